"""Worker side of `ferx batch` (`ferx.runs.dataset`): read inputs, analyse them, and turn the results
into Arrow rows of ferx's one table (`ferx.table`).

Both engines run the same code (`ChunkAnalyzer`), so local and Ray runs write the same rows. A
chunk of inputs comes back as one Arrow table with at least one row per input:

- one row per face (per frame for a video), the columns of `ferx.table`;
- one row for an image (or video frame) without a face (`face` is null);
- one row for an input that failed (`_status` = "failed", `_error`, `_message`);
- for a video that ended early (truncated or corrupt), its rows and one more row with `_status` =
  "truncated" and the reason, as `ferx analyze` reports it.

Transport columns start with "_" and are removed by the driver before it writes the dataset.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferx.config import AnalyzerConfig
from ferx.fsutil import file_sha256, printable
from ferx.errors import ConfigError
from ferx.io import input_notes
from ferx.table import FrameInfo, TableLayout
from ferx.types import FrameResult

#: Transport columns (driver only): which input a row belongs to, how many rows that input has,
#: and whether it failed.
TRANSPORT_COLUMNS = ("_seq", "_rows", "_status", "_error", "_message")
#: Video frames turned into Arrow rows at a time (bounded memory for long videos).
_VIDEO_GROUP = 256
#: Videos are read in 1 MiB blocks to hash them and, for remote ones, to copy them to a temporary file.
_BLOCK = 1 << 20


@dataclass(frozen=True)
class RowOptions:
    """What a row holds besides the analysis. Part of what a resumed run must match."""

    landmarks: bool = False  # a `landmarks` column: 478 × (x, y, z) as one float32 list per face
    video_every: int = 1  # analyse every Nth frame of a video
    video_fps: float | None = None  # at most this many frames per second of video

    def to_dict(self) -> dict[str, Any]:
        return {"landmarks": self.landmarks, "video_every": self.video_every, "video_fps": self.video_fps}


def is_remote(uri: str) -> bool:
    """True for an fsspec URI other than a plain local path (`file://` counts as remote here only
    in that fsspec opens it; it is still read from this machine)."""
    return "://" in uri


def read_bytes(uri: str) -> bytes:
    """The content of a local path or an fsspec URI (a local problem — missing, a broken link, a
    folder — is an ImageReadError worded as `ferx analyze` words it)."""
    if not is_remote(uri):
        from ferx.io import read_file

        return read_file(Path(uri))
    import fsspec  # only needed for URIs

    with fsspec.open(uri, "rb") as f:
        return f.read()


def _head(uri: str, n: int = 512) -> bytes:
    if not is_remote(uri):
        try:
            with open(uri, "rb") as f:
                return f.read(n)
        except OSError:
            return read_bytes(uri)[:n]  # its ImageReadError says what is wrong with the path
    import fsspec

    with fsspec.open(uri, "rb") as f:
        return f.read(n)


def transport_schema(schema: Any) -> Any:
    """`schema` with the transport columns in front."""
    import pyarrow as pa

    lead = [pa.field("_seq", pa.int64()), pa.field("_rows", pa.int32()), pa.field("_status", pa.string()),
            pa.field("_error", pa.string()), pa.field("_message", pa.string())]
    return pa.schema(lead + list(schema))


@dataclass(frozen=True)
class _Entry:
    """An analysed frame waiting to become rows."""

    seq: int
    uri: str
    digest: str | None
    kind: str
    result: FrameResult
    tracks: np.ndarray | None
    detected: np.ndarray | None = None
    scene_cut: bool | None = None


class ChunkAnalyzer:
    """Analyses chunks of inputs; the models are loaded once, when it is created.

    Called with a table of `_seq` (int64), `uri` (string, as rows name it) and `uri_bytes` (the name
    itself) — the batch format of Ray Data's `map_batches` — it returns the rows of those inputs
    (transport schema). A problem with one input becomes a "failed" row; only problems with the
    analyzer itself raise. It lives in a worker process (a pool's or a Ray actor's), where what
    decoding warns about (InputRangeWarning) goes into the rows' notes and is not printed: `ferx batch
    -q` printed it as a raw Python warning.
    """

    def __init__(self, config: dict[str, Any], options: dict[str, Any], threads: int | None = None) -> None:
        import warnings

        from ferx.errors import InputRangeWarning
        from ferx.pipeline import Analyzer, with_threads

        warnings.simplefilter("ignore", InputRangeWarning)  # its notes carry it (the CLI's own process does the same)

        self.options = RowOptions(**options)
        self.config = AnalyzerConfig.from_dict(config)
        if threads is not None:
            self.config = with_threads(self.config, threads)
        self.analyzer = Analyzer(self.config)
        self.layout = TableLayout.of_pipeline(self.analyzer.describe(), landmarks=self.options.landmarks)
        self.schema = self.layout.arrow_schema()
        self.transport = transport_schema(self.schema)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        seqs = batch.column("_seq").to_pylist()
        names = batch.column("uri").to_pylist()  # as the driver names them (its done-check uses these)
        uris = ([os.fsdecode(b) for b in batch.column("uri_bytes").to_pylist()] if "uri_bytes" in batch.column_names
                else names)
        images: list[_Entry] = []
        tables = []
        for seq, uri, name in zip(seqs, uris, names):
            entries, table = self.analyze_one(int(seq), str(uri), str(name))
            images.extend(entries)
            if table is not None:
                tables.append(table)
        if images:  # the images of a chunk become rows together (one DataFrame, one Arrow conversion)
            tables.insert(0, self._build(images))
        if not tables:
            return self.transport.empty_table()
        table = pa.concat_tables(tables)
        # every row says how many rows its input has: the driver commits an input only when whole
        counts = pc.value_counts(table.column("_seq"))
        per_seq = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
        rows = pa.array([per_seq[s] for s in table.column("_seq").to_pylist()], pa.int32())
        return table.set_column(table.schema.get_field_index("_rows"), "_rows", rows)

    def analyze_one(self, seq: int, uri: str, name: str | None = None) -> tuple[list[_Entry], Any]:
        """An image as an entry to build rows from, or a video's or failure's rows as a table (never
        raises for a problem with the input)."""
        from ferx.errors import ClosedError, ModelFileError
        from ferx.video.sniff import sniff_video

        kind, digest, name = "image", None, name or printable(uri)  # the rows name it as outputs can hold it
        try:
            if sniff_video(_head(uri)):
                kind = "video"
                return [], self._video_table(seq, uri, name)
            data = read_bytes(uri)
            digest = hashlib.sha256(data).hexdigest()
            with input_notes() as notes:  # what decoding warned about goes into the row's notes
                result = self.analyzer.analyze(data, source=name)
            result = result.with_notes(notes)
            return [_Entry(seq, name, digest, "image", result, None)], None
        except (ModelFileError, ConfigError, ClosedError):
            raise
        except Exception as e:  # noqa: BLE001 - anything wrong with this one input is recorded, not raised
            return [], self._failed(seq, name, digest, kind, e)

    def _video_table(self, seq: int, uri: str, name: str) -> Any:
        import pyarrow as pa

        from ferx.video import Sampling, VideoConfig, analyze_video

        local, digest, tmp = _local_copy(uri)
        try:
            config = VideoConfig(sampling=Sampling(every=self.options.video_every, fps=self.options.video_fps))
            tables, entries = [], []
            analysis = analyze_video(self.analyzer, local, config)
            for tf in analysis:
                entries.append(_Entry(seq, name, digest, "video", tf.result, tf.track_ids, tf.detected,
                                      bool(tf.scene_cut)))
                if len(entries) == _VIDEO_GROUP:  # rows as Arrow as we go: frames with meshes are large
                    tables.append(self._build(entries))
                    entries = []
            if entries or not tables:
                tables.append(self._build(entries))
            if analysis.stopped:  # rows up to the last good frame are kept, and the input says why it ended
                tables.append(self._problem(seq, name, digest, "video", "truncated", "VideoTruncated", analysis.stopped))
            return pa.concat_tables(tables)
        finally:
            if tmp is not None:
                os.unlink(tmp)

    def _build(self, entries: list[_Entry]) -> Any:
        """Transport rows for analysed frames (`_rows` is set by the caller)."""
        import pyarrow as pa

        rows: list[list[Any]] = []
        seqs: list[int] = []
        for e in entries:
            info = FrameInfo(kind=e.kind, source=e.uri, content_sha256=e.digest, track_ids=e.tracks,
                             detected=e.detected, scene_cut=e.scene_cut)
            frame_rows = self.layout.rows(e.result, info)
            rows.extend(frame_rows)
            seqs.extend([e.seq] * len(frame_rows))
        table = self.layout.arrow_table(rows)
        lead = {"_seq": pa.array(seqs, pa.int64()), "_rows": pa.array([0] * len(seqs), pa.int32()),
                "_status": pa.array(["ok"] * len(seqs), pa.string()), "_error": pa.nulls(len(seqs), pa.string()),
                "_message": pa.nulls(len(seqs), pa.string())}
        return pa.Table.from_arrays([*lead.values(), *table.columns], schema=self.transport)

    def _failed(self, seq: int, uri: str, digest: str | None, kind: str, e: BaseException) -> Any:
        message = str(e) or type(e).__name__  # the analyzer names decoded bytes by their URI
        return self._problem(seq, uri, digest, kind, "failed", type(e).__name__, message)

    def _problem(self, seq: int, uri: str, digest: str | None, kind: str, status: str, error: str,
                 message: str) -> Any:
        """The row that says why an input failed ("failed") or ended early ("truncated")."""
        import pyarrow as pa

        row = {"_seq": seq, "_rows": 1, "_status": status, "_error": error, "_message": printable(message),
               "source": uri, "content_sha256": digest, "kind": kind}
        return pa.Table.from_pylist([row], schema=self.transport)

    def close(self) -> None:
        self.analyzer.close()


def _local_copy(uri: str) -> tuple[str, str, str | None]:
    """A local path for a video (PyAV reads files), its sha256, and the temporary copy to delete."""
    if not is_remote(uri):
        return uri, file_sha256(uri, _BLOCK), None
    h = hashlib.sha256()
    import fsspec

    fd, tmp = tempfile.mkstemp(prefix="ferx-video-", suffix=os.path.splitext(uri)[1][:16])
    try:
        with os.fdopen(fd, "wb") as out, fsspec.open(uri, "rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
                out.write(block)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, h.hexdigest(), tmp


__all__ = [
    "TRANSPORT_COLUMNS",
    "ChunkAnalyzer",
    "RowOptions",
    "is_remote",
    "read_bytes",
    "transport_schema",
]
