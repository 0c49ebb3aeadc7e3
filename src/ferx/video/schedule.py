"""When the tracker runs the face detector (`FaceTracker`, docs/video.md): every `detect_every` frames
(faces that entered), on every frame while a face is lost (to find it again), after a scene cut, and
when the picture changes away from the tracked faces ("a new face may have entered"). Cuts and motion
are read from a small grey thumbnail of each frame."""

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
        self.since_detect = math.inf
        self.since_motion = math.inf
        self.detections = 0  # frames on which the detector ran
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

    def due(self, *, cut: bool, tracked: list[np.ndarray], lost_ages: list[float]) -> bool:
        """Whether the detector runs on this frame.

        Args:
            cut: the frame starts a new shot.
            tracked: predicted boxes of the faces followed now.
            lost_ages: seconds since each lost track (re-identifiable by position) was last seen.
        """
        cfg = self.config
        # Right after a face is lost the detector runs on every frame, then on every few frames
        # while the track can still be re-identified (a face behind another, one that stepped out).
        lost_before = any(age <= cfg.lost_detect_s for age in lost_ages) or (
            bool(lost_ages) and self.since_detect + 1 >= max(1, cfg.detect_every // 4))
        return (
            not self.follow
            or cut
            or not tracked and self.since_detect >= 1  # nobody followed: look every frame
            or self.since_detect + 1 >= cfg.detect_every
            or lost_before
            or self._motion(tracked)
        )

    def finished(self, detected: bool) -> None:
        """The frame is done; `detected`: the detector ran on it."""
        if detected:
            self.since_detect = 0
            self._detect_thumb = self._thumb
            self.detections += 1
        else:
            self.since_detect += 1
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
