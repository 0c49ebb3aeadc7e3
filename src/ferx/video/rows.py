"""Per-frame rows, written as the video is read: CSV (always valid: whole lines appended per
frame) and Parquet (row groups as they fill; the file appears under its name when finished).

One row per face per frame, plus one row for each frame without a face (track empty), so that the
rows also say when nobody was there. Columns: frame, timestamp, track, face, detected (1 = found by
the detector on this frame, 0 = followed from the previous frame), scene_cut, x1 y1 x2 y2, score,
yaw pitch roll, one column per AU (0–5), `<AU>_rel` with calibration, `p_<label>` per expression
label, label, confidence. Which groups appear depends on the stages configured.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferx.fsutil import append_bytes
from ferx.types import HEAD_POSE_NAMES
from ferx.video.result import TrackedFrame

#: rows held back while the columns are not known yet (no face seen); then the defaults are used
_PENDING_LIMIT = 2000


@dataclass(frozen=True)
class RowLayout:
    """The columns of a rows file (fixed by the first frame with a face)."""

    au_codes: tuple[str, ...] | None
    labels: tuple[str, ...] | None
    head_pose: bool
    relative: bool

    @classmethod
    def from_frame(cls, tf: TrackedFrame, relative: bool) -> RowLayout:
        f = tf.faces
        return cls(
            au_codes=None if f.aus is None else f.au_codes,
            labels=None if f.expression is None else f.expression_labels,
            head_pose=f.head_pose is not None,
            relative=relative and f.aus is not None,
        )

    @property
    def columns(self) -> list[str]:
        cols = ["frame", "timestamp", "track", "face", "detected", "scene_cut", "x1", "y1", "x2", "y2", "score"]
        if self.head_pose:
            cols += list(HEAD_POSE_NAMES)
        if self.au_codes is not None:
            cols += list(self.au_codes)
            if self.relative:
                cols += [f"{c}_rel" for c in self.au_codes]
        if self.labels is not None:
            cols += [f"p_{lab}" for lab in self.labels] + ["label", "confidence"]
        return cols

    def check(self, tf: TrackedFrame) -> None:
        f = tf.faces
        if not len(f):
            return
        if (f.aus is not None and f.au_codes != self.au_codes) or (
            f.expression is not None and f.expression_labels != self.labels
        ):
            raise ValueError(f"frame {tf.index}: the AU codes or expression labels changed during the video")

    def rows(self, tf: TrackedFrame) -> list[list[Any]]:
        """The frame's rows as lists of Python values (None = missing)."""
        head = [tf.index, round(tf.timestamp, 6)]
        n = len(tf.faces)
        width = len(self.columns) - 6
        if n == 0:
            return [head + [None, None, None, bool(tf.scene_cut)] + [None] * width]
        f = tf.faces
        parts = [f.boxes, f.scores[:, None]]
        if self.head_pose:
            parts.append(f.head_pose if f.head_pose is not None else np.full((n, 3), np.nan))
        if self.au_codes is not None:
            k = len(self.au_codes)
            parts.append(f.aus if f.aus is not None else np.full((n, k), np.nan))
            if self.relative:
                parts.append(tf.aus_relative if tf.aus_relative is not None else np.full((n, k), np.nan))
        if self.labels is not None:
            parts.append(f.expression if f.expression is not None else np.full((n, len(self.labels)), np.nan))
        values = np.concatenate([np.asarray(p, np.float64) for p in parts], axis=1).round(4)
        labels = f.labels
        conf = f.confidences
        out = []
        for i in range(n):
            row = head + [int(tf.track_ids[i]), i, bool(tf.detected[i]), bool(tf.scene_cut)]
            row += [None if not math.isfinite(v) else v for v in values[i].tolist()]
            if self.labels is not None:
                c = float(conf[i])
                row += [labels[i], None if not math.isfinite(c) else round(c, 4)]
            out.append(row)
        return out


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        if any(ch in v for ch in ',"\n\r'):
            return '"' + v.replace('"', '""') + '"'
        return v
    return str(v)


class CsvRowWriter:
    """Appends each frame's rows to a CSV file as whole lines (an interrupted run leaves a valid file)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)
        self.rows = 0

    def start(self, columns: list[str]) -> None:
        append_bytes(self._fd, (",".join(columns) + "\n").encode())

    def write(self, rows: list[list[Any]]) -> None:
        if rows:
            append_bytes(self._fd, "".join(",".join(map(_csv_value, r)) + "\n" for r in rows).encode())
            self.rows += len(rows)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


class ParquetRowWriter:
    """Writes rows to Parquet in row groups of `group_rows` as they fill (bounded memory). The file
    is written as `<name>.partial` and renamed when closed — also on an interrupt — so a file under
    the final name is always complete."""

    def __init__(self, path: str | os.PathLike[str], group_rows: int = 1024) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.group_rows = int(group_rows)
        self.rows = 0
        self._buffer: list[list[Any]] = []
        self._writer: Any = None
        self._schema: Any = None

    def start(self, columns: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"frame": pa.int64(), "timestamp": pa.float64(), "track": pa.int64(), "face": pa.int16(),
                 "detected": pa.bool_(), "scene_cut": pa.bool_(), "label": pa.string()}
        self._schema = pa.schema([(c, types.get(c, pa.float32())) for c in columns])
        self._writer = pq.ParquetWriter(self.partial, self._schema, compression="zstd")

    def write(self, rows: list[list[Any]]) -> None:
        self._buffer.extend(rows)
        self.rows += len(rows)
        if len(self._buffer) >= self.group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._buffer:
            return
        cols = list(zip(*self._buffer))
        arrays = [pa.array(list(c), type=f.type) for c, f in zip(cols, self._schema)]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        self._buffer = []

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self._flush()
        finally:
            self._writer.close()
            self._writer = None
        os.replace(self.partial, self.path)


class RowSink:
    """Turns TrackedFrames into rows for one or more writers; holds rows back only until the first
    face fixes the columns (at most `_PENDING_LIMIT` rows, then the default columns are used)."""

    def __init__(self, writers: list[Any], *, relative: bool = False, default_layout: RowLayout | None = None) -> None:
        self.writers = writers
        self.relative = relative
        self.default_layout = default_layout
        self.layout: RowLayout | None = None
        self._pending: list[TrackedFrame] = []
        self.frames = 0

    def write(self, tf: TrackedFrame) -> None:
        self.frames += 1
        if self.layout is None:
            if len(tf.faces):
                self._start(RowLayout.from_frame(tf, self.relative))
            else:
                # Only the fields the rows need, not the image: pending frames must stay small.
                self._pending.append(tf.with_faces(tf.faces, frame=None))
                if len(self._pending) >= _PENDING_LIMIT and self.default_layout is not None:
                    self._start(self.default_layout)
                return
        self.layout.check(tf)  # type: ignore[union-attr]
        rows = self.layout.rows(tf)  # type: ignore[union-attr]
        for w in self.writers:
            w.write(rows)

    def _start(self, layout: RowLayout) -> None:
        self.layout = layout
        for w in self.writers:
            w.start(layout.columns)
        pending, self._pending = self._pending, []
        for tf in pending:
            rows = layout.rows(tf)
            for w in self.writers:
                w.write(rows)

    def close(self) -> None:
        try:
            if self.layout is None:
                self._start(self.default_layout or RowLayout(None, None, False, False))
        finally:
            errors = []
            for w in self.writers:
                try:
                    w.close()
                except Exception as e:  # close every writer; report the first failure
                    errors.append(e)
            if errors:
                raise errors[0]


__all__ = ["CsvRowWriter", "ParquetRowWriter", "RowLayout", "RowSink"]
