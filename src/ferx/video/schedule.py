"""When the tracker runs the face detector (`FaceTracker`, docs/video.md): on the whole frame every
`detect_every` frames (faces that entered), after a scene cut, and when the picture changes away from
the tracked faces ("a new face may have entered"); around the places of lost faces (to find them
again) on every frame for a while after a loss, then every few frames. Cuts and motion are read from
a small grey thumbnail of each frame."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ferx.types import Frame

if TYPE_CHECKING:
    from ferx.video.track import TrackingConfig


def thumbnail(image: np.ndarray, width: int = 64) -> tuple[np.ndarray, int]:
    """A small grey float32 image (strided sampling: cheap on full-HD frames) and its stride."""
    h, w = image.shape[:2]
    step = max(1, w // width)
    return image[::step, ::step].mean(axis=2, dtype=np.float32), step


class DetectionSchedule:
    """Decides, frame by frame, whether the detector runs; `observe` each frame first, `finished`
    after it."""

    def __init__(self, config: TrackingConfig, follow: bool) -> None:
        self.config = config
        self.follow = follow
        self.since_detect = math.inf  # frames since the detector ran on the whole frame
        self.since_search = math.inf  # frames since lost faces were looked for (or the whole frame)
        self.since_motion = math.inf
        self.detections = 0  # frames on which the detector ran on the whole frame
        self.searches = 0  # frames on which it ran only around lost faces
        self._prev_thumb: np.ndarray | None = None
        self._prev_size: tuple[int, int] | None = None
        self._detect_thumb: np.ndarray | None = None
        self._thumb = np.zeros((0, 0), np.float32)
        self._stride = 1

    def observe(self, frame: Frame) -> bool:
        """Take in a frame; returns whether it starts a new shot (a scene cut)."""
        self._thumb, self._stride = thumbnail(frame.image)
        # A frame of another size (image sequences may mix sizes) is another picture: the tracks'
        # boxes and meshes no longer apply, so it counts as a scene cut (faces come back by looks).
        size = (frame.height, frame.width)
        cut = (self._prev_size is not None and size != self._prev_size) or self._is_cut(self._thumb)
        self._prev_thumb, self._prev_size = self._thumb, size
        return cut

    def due(self, *, cut: bool, tracked: list[np.ndarray]) -> bool:
        """Whether the detector runs on the whole frame.

        Args:
            cut: the frame starts a new shot.
            tracked: predicted boxes of the faces followed now.
        """
        return (
            not self.follow
            or cut
            or not tracked and self.since_detect >= 1  # nobody followed: look every frame
            or self.since_detect + 1 >= self.config.detect_every
            or self._motion(tracked)
        )

    def search_lost(self, lost_ages: list[float]) -> float | None:
        """Which lost faces to look for around where they were, on a frame the whole of which is not
        searched: those lost within `lost_detect_s` on every frame, and every few frames all those
        that can still be re-identified (a face behind another, one that looked away).

        Args:
            lost_ages: seconds since each lost track (re-identifiable by position) was last seen.
        Returns:
            the largest age to look for (math.inf: all of them), or None: no search on this frame.
        """
        cfg = self.config
        if lost_ages and self.since_search + 1 >= max(1, cfg.detect_every // 4):
            return math.inf
        if any(age <= cfg.lost_detect_s for age in lost_ages):
            return cfg.lost_detect_s
        return None

    def finished(self, detected: bool, searched: bool = False) -> None:
        """The frame is done; `detected`: the detector ran on the whole frame; `searched`: it ran
        around lost faces only."""
        if detected:
            self.since_detect = 0
            self._detect_thumb = self._thumb
            self.detections += 1
        else:
            self.since_detect += 1
        if detected or searched:
            self.since_search = 0
            self.searches += int(searched and not detected)
        else:
            self.since_search += 1
        self.since_motion += 1

    def _is_cut(self, thumb: np.ndarray) -> bool:
        prev = self._prev_thumb
        if prev is None or prev.shape != thumb.shape or self.config.cut_threshold <= 0:
            return False
        return float(np.abs(thumb - prev).mean()) >= self.config.cut_threshold

    def _motion(self, tracked: list[np.ndarray]) -> bool:
        cfg = self.config
        ref, thumb = self._detect_thumb, self._thumb
        if cfg.motion_threshold <= 0 or ref is None or ref.shape != thumb.shape:
            return False
        if self.since_motion < cfg.motion_every:
            return False
        diff = np.abs(thumb - ref)
        for box in tracked:  # changes on and around tracked faces are theirs
            x1, y1, x2, y2 = box / self._stride
            w, h = x2 - x1, y2 - y1
            diff[max(0, int(y1 - h)) : max(0, int(y2 + h) + 1), max(0, int(x1 - w)) : max(0, int(x2 + w) + 1)] = 0
        b = 4
        hh, ww = (diff.shape[0] // b) * b, (diff.shape[1] // b) * b
        blocks = diff[:hh, :ww].reshape(hh // b, b, ww // b, b).mean(axis=(1, 3))
        if blocks.size and float(blocks.max()) >= cfg.motion_threshold:
            self.since_motion = 0
            return True
        return False


__all__ = ["DetectionSchedule", "thumbnail"]
