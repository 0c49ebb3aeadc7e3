"""Per-person neutral baseline: AU intensities relative to the person's own resting face.

People differ at rest: a lowered brow, a mouth whose corners turn down, deep naso-labial folds
read as AU4, AU15 or AU10 on every frame. OpenFace 2 (Baltrušaitis et al., 2018) corrects its
dynamic AU models per person by subtracting the median of that person's features over the video,
assuming most frames are near neutral. ferx does the same on the output side, online (rows are
written as the video is read):

- per track, the baseline of each AU is the median of its intensities over the frames in which the
  expression classifier's top label is "neutral" (the person's own resting face); without such
  frames yet (or without a classifier) it is the median over all of the track's frames so far —
  OpenFace's assumption;
- the relative intensity is `max(0, AU − baseline)`; until a track has `min_frames` frames the
  relative values are NaN (no baseline yet), never a guess;
- memory is bounded: the medians use the last `window` frames of each kind.

Off by default; raw intensities are always kept next to the relative ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ferx.video.result import TrackedFrame


@dataclass
class CalibrationConfig:
    """Attributes:
        enabled: compute `aus_relative` (columns `AUxx_rel`).
        neutral_label: the expression label that marks a resting face.
        min_frames: frames a track needs before it has a baseline.
        window: frames kept per track for the medians (bounded memory).
    """

    enabled: bool = False
    neutral_label: str = "neutral"
    min_frames: int = 15
    window: int = 900


@dataclass
class _Baseline:
    neutral: deque[np.ndarray] = field(default_factory=deque)
    every: deque[np.ndarray] = field(default_factory=deque)
    last_t: float = 0.0


class NeutralBaseline:
    """Adds `aus_relative` to tracked frames (one baseline per track ID)."""

    def __init__(self, config: CalibrationConfig | None = None, forget_s: float = 60.0) -> None:
        self.config = config or CalibrationConfig()
        self.forget_s = forget_s
        self._tracks: dict[int, _Baseline] = {}

    def baseline(self, track_id: int) -> np.ndarray | None:
        """The current baseline of a track (None before it has `min_frames` frames)."""
        b = self._tracks.get(int(track_id))
        if b is None:
            return None
        source = b.neutral if len(b.neutral) >= self.config.min_frames else b.every
        if len(source) < self.config.min_frames:
            return None
        return np.nanmedian(np.stack(source), axis=0).astype(np.float32)

    def baselines(self) -> dict[int, np.ndarray | None]:
        """The current baseline of every track still remembered."""
        return {tid: self.baseline(tid) for tid in self._tracks}

    def __call__(self, tracked: TrackedFrame) -> TrackedFrame:
        faces = tracked.faces
        if not self.config.enabled or faces.aus is None:
            return tracked
        rel = np.full_like(faces.aus, np.nan)
        labels = faces.labels
        t = tracked.timestamp
        for i, tid in enumerate(tracked.track_ids.tolist()):
            b = self._tracks.get(tid)
            if b is None:
                b = self._tracks[tid] = _Baseline(deque(maxlen=self.config.window), deque(maxlen=self.config.window))
            b.last_t = t
            aus = faces.aus[i]
            if np.isfinite(aus).any():
                b.every.append(aus.copy())
                if labels[i] == self.config.neutral_label:
                    b.neutral.append(aus.copy())
            base = self.baseline(tid)
            if base is not None:
                rel[i] = np.clip(aus - base, 0.0, 5.0)
        for k in [k for k, v in self._tracks.items() if t - v.last_t > self.forget_s]:
            del self._tracks[k]
        return tracked.with_faces(faces, aus_relative=rel)


__all__ = ["CalibrationConfig", "NeutralBaseline"]
