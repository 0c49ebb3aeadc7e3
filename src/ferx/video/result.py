"""The per-frame result of video analysis: a frame's faces with their track IDs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ferx.types import Faces, Frame, FrameResult


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """One analysed video frame.

    Attributes:
        result: the frame's FrameResult (index, timestamp, faces — smoothed when smoothing is on —,
            timings, notes); faces are sorted by track ID.
        track_ids: (N,) int64, a stable ID per person (IDs start at 1 and are never reused).
        detected: (N,) bool, True where the face was found by the detector in this frame, False
            where it was followed from its previous mesh.
        aus_relative: (N, K) AU intensities minus the track's neutral baseline (clipped at 0), or
            None when calibration is off.
        scene_cut: this frame starts a new shot (tracks continue only when the face matches).
        detector_ran: the detector ran on this frame.
        frame: the decoded image (kept so that callers can draw on it without decoding twice).
    """

    result: FrameResult
    track_ids: np.ndarray
    detected: np.ndarray
    aus_relative: np.ndarray | None = None
    scene_cut: bool = False
    detector_ran: bool = False
    frame: Frame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.result.faces)
        ids = np.asarray(self.track_ids, np.int64).reshape(-1)
        det = np.asarray(self.detected, bool).reshape(-1)
        if ids.shape != (n,) or det.shape != (n,):
            raise ValueError(f"track_ids and detected must have {n} entries, got {ids.shape} and {det.shape}")
        object.__setattr__(self, "track_ids", ids)
        object.__setattr__(self, "detected", det)
        if self.aus_relative is not None:
            rel = np.asarray(self.aus_relative, np.float32)
            if self.result.faces.aus is None or rel.shape != self.result.faces.aus.shape:
                raise ValueError("aus_relative must have the shape of faces.aus")
            object.__setattr__(self, "aus_relative", rel)

    @property
    def faces(self) -> Faces:
        return self.result.faces

    @property
    def index(self) -> int:
        return self.result.index

    @property
    def timestamp(self) -> float:
        return float(self.result.timestamp or 0.0)

    @property
    def source(self) -> str:
        return self.result.source

    def to_pandas(self, *, landmarks: bool = False) -> Any:
        """One row per face (one without a face) in ferx's one table, with the track columns: the rows
        `ferx analyze clip.mp4` writes for this frame (`content_sha256` aside, which a run adds)."""
        from ferx.table import FrameInfo, TableLayout, to_pandas

        relative = self.aus_relative is not None
        layout = TableLayout.of_faces(self.faces, relative=relative, landmarks=landmarks)
        info = FrameInfo(kind="video", source=self.source, track_ids=self.track_ids, detected=self.detected,
                         scene_cut=self.scene_cut, aus_relative=self.aus_relative)
        rows = layout.rows(self.result, info)
        return to_pandas(layout, {name: [r[j] for r in rows] for j, name in enumerate(layout.names)}, layout.names)

    def with_faces(self, faces: Faces, **changes: Any) -> TrackedFrame:
        """A copy with other faces (same rows) and other fields replaced."""
        return replace(self, result=replace(self.result, faces=faces), **changes)


__all__ = ["TrackedFrame"]
