"""A cheap identity cue for re-identifying a face: its grey crop aligned on the eye corners, as a unit
vector (the dot product of two is their correlation). The crop is the frame's shared one
(`facecrop.aligned_crops`): inside a `frame_crops` block, made once per face for the classifier,
the AU heads and this."""

from __future__ import annotations

import numpy as np

from ferx.facecrop import aligned_crops

APPEARANCE_SIZE = 48  # the classifier's crop (facecrop.SIZE): one crop per face per frame, shared


def appearance(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Unit vector of a face's aligned grey crop of the (H, W, 3) `image`, mean removed."""
    crop = aligned_crops(image, landmarks[None], APPEARANCE_SIZE)[0].astype(np.float32)
    # The central part: hair and background at the crop's edges change with the scene, not the person.
    m = crop.shape[0] // 8
    v = crop[m:-m, m:-m].ravel()
    v = v - v.mean()
    return v / max(float(np.linalg.norm(v)), 1e-6)


def blend(old: np.ndarray | None, new: np.ndarray, keep: float = 0.8) -> np.ndarray:
    """A track's appearance updated with a new view (exponential average, renormalised)."""
    if old is None:
        return new
    v = keep * old + (1 - keep) * new
    return v / max(float(np.linalg.norm(v)), 1e-6)


__all__ = ["APPEARANCE_SIZE", "appearance", "blend"]
