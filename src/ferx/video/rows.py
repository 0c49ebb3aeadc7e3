"""Per-frame rows of a video, written as the video is read: CSV (always valid: whole lines appended
per frame) and Parquet (row groups as they fill; the file appears under its name when finished).

The columns are ferx's one table (`ferx.table`), fixed before the first frame by what the analyzer
produces: one row per face per frame, plus one row for each frame without a face (face columns
empty), so that the rows also say when nobody was there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ferx.fsutil import append_bytes
from ferx.table import FrameInfo, TableLayout
from ferx.video.result import TrackedFrame


class CsvRowWriter:
    """Appends rows to a CSV file as whole lines (an interrupted run leaves a valid file)."""

    def __init__(self, path: str | os.PathLike[str], layout: TableLayout) -> None:
        self.path = Path(path)
        self.layout = layout
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)
        self.rows = 0
        append_bytes(self._fd, (",".join(layout.names) + "\r\n").encode())

    def write(self, rows: list[list[Any]]) -> None:
        if rows:
            text = "".join(self.layout.csv_line(r) + "\r\n" for r in rows)  # RFC 4180 line ends
            append_bytes(self._fd, text.encode("utf-8", "backslashreplace"))
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

    def __init__(self, path: str | os.PathLike[str], layout: TableLayout, group_rows: int = 1024) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.layout = layout
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.group_rows = int(group_rows)
        self.rows = 0
        self._buffer: list[list[Any]] = []
        self._writer: Any = pq.ParquetWriter(self.partial, layout.arrow_schema(), compression="zstd")

    def write(self, rows: list[list[Any]]) -> None:
        self._buffer.extend(rows)
        self.rows += len(rows)
        if len(self._buffer) >= self.group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(self.layout.arrow_table(self._buffer))
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
    """Turns TrackedFrames into rows of one layout for one or more writers.

    Args:
        writers: CsvRowWriter / ParquetRowWriter of that layout.
        layout: the columns (`TableLayout.of_pipeline(analyzer.describe(), relative=...)`).
        source: the `source` column (the video, or the folder of an image sequence).
        content_sha256: hash of the video file, when known.
    """

    def __init__(self, writers: list[Any], layout: TableLayout, *, source: str, content_sha256: str | None = None
                 ) -> None:
        self.writers = writers
        self.layout = layout
        self.source = source
        self.content_sha256 = content_sha256
        self.frames = 0

    def write(self, tf: TrackedFrame) -> None:
        self.frames += 1
        self.layout.check(tf.faces, f"frame {tf.index}")
        info = FrameInfo(kind="video", source=self.source, content_sha256=self.content_sha256,
                         track_ids=tf.track_ids, detected=tf.detected, scene_cut=bool(tf.scene_cut),
                         aus_relative=tf.aus_relative)
        rows = self.layout.rows(tf.result, info)
        for w in self.writers:
            w.write(rows)

    def close(self) -> None:
        errors = []
        for w in self.writers:
            try:
                w.close()
            except Exception as e:  # close every writer; report the first failure
                errors.append(e)
        if errors:
            raise errors[0]


__all__ = ["CsvRowWriter", "ParquetRowWriter", "RowSink"]
