"""A cheap identity cue for re-identifying a face: its grey crop aligned on the eye corners, as a unit
vector (the dot product of two is their correlation)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ferx.facecrop import aligned_crop

APPEARANCE_SIZE = 32


def appearance(grey: Image.Image, landmarks: np.ndarray) -> np.ndarray:
    """Unit vector of a face's grey crop aligned on its eye corners, mean removed."""
    crop = aligned_crop(grey, landmarks, APPEARANCE_SIZE).astype(np.float32)
    # The central part: hair and background at the crop's edges change with the scene, not the person.
    m = APPEARANCE_SIZE // 8
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
