"""A large collection into a Parquet dataset (`ferx batch`), exactly once and resumable: a configuration of
the run driver (`ferx.runs.driver`) with a process-pool or Ray engine (`ferx.runs.engines`) and
`DatasetSink`, which commits whole inputs in shards (`ferx.runs.store`; layout
`ferx.runs.layout.DATASET`).

Only the driver writes to OUTPUT, and only through `Store.commit`; workers return rows. So a killed
worker loses nothing that was committed, and its inputs are simply run again; a killed driver loses
at most the uncommitted shard, whose inputs the next run (same command) analyses again. SIGINT and
SIGTERM stop the run after the result in hand: what arrived whole is committed, summary.json says
"interrupted"; a second signal does not wait for the engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ferx import __version__
from ferx.config import AnalyzerConfig
from ferx.fsutil import printable
from ferx.runs.driver import Aborted, drive
from ferx.runs.engines import make_engine
from ferx.runs.guard import InterruptGuard
from ferx.runs.inputs import resolve_inputs
from ferx.runs.progress import Progress
from ferx.runs.space import Reserve, is_fatal_write, reason
from ferx.runs.status import RunStatus
from ferx.runs.store import BulkError, Done, Store, error_schema
from ferx.runs.worker import TRANSPORT_COLUMNS, RowOptions
from ferx.table import pandas_metadata

if TYPE_CHECKING:
    from ferx.stages import PipelineInfo

#: what a dataset's options fingerprint covers besides the config; bump when the rows change meaning
ROW_FORMAT = 1


@dataclass
class BulkSummary(RunStatus):
    """What summary.json says about one `ferx batch` run. `done`, `failed`, `truncated`, `faces`,
    `rows` count this run; `dataset_*` the whole dataset, earlier runs included."""

    engine: str = "local"
    workers: int | None = None
    inputs: int = 0
    done: int = 0
    skipped: int = 0  # already in the dataset, not redone
    failed: int = 0
    truncated: int = 0  # videos that ended early: their rows are kept, errors/ says why
    faces: int = 0
    rows: int = 0
    pending: int = 0  # neither done nor failed (the run stopped early)
    shards: int = 0
    dataset_inputs: int = 0
    dataset_faces: int = 0
    dataset_failed: int = 0
    errors: list[dict[str, str | None]] = field(default_factory=list)  # this run's, at most 20

    @property
    def failures(self) -> int:
        return self.failed + self.truncated

    @property
    def rate(self) -> float:
        """Inputs finished (done or failed) per second in this run."""
        return (self.done + self.failed + self.truncated) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("status", "engine", "workers", "inputs", "done", "skipped", "failed",
                                            "faces", "rows", "pending", "shards", "dataset_inputs", "dataset_faces",
                                            "dataset_failed", "signal", "errors")}
        if self.truncated:
            d["truncated"] = self.truncated
        if self.reason is not None:
            d["reason"] = self.reason
        d.update(ferx_version=__version__, seconds=round(self.seconds, 3), inputs_per_s=round(self.rate, 3),
                 faces_per_s=round(self.faces / self.seconds, 3) if self.seconds > 0 else 0.0)
        return d

    def line(self) -> str:
        truncated = f", {self.truncated} truncated" if self.truncated else ""
        return (f"{self.status}: {self.done} done, {self.skipped} skipped (already done), {self.failed} failed"
                f"{truncated}, {self.pending} pending; {self.faces} faces in {self.rows} rows; {self.seconds:.1f} s, "
                f"{self.rate:.2f} inputs/s, {self.faces / self.seconds if self.seconds else 0:.2f} faces/s")


def run_dataset(
    inputs: str | Sequence[str],
    out: str | os.PathLike[str],
    config: AnalyzerConfig | None = None,
    options: RowOptions | None = None,
    *,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    chunk: int = 8,
    shard_size: int = 1000,
    column: str | None = None,
    quiet: bool = True,
    on_progress: Callable[[int, Any], None] | None = None,
) -> BulkSummary:
    """Analyse every input into the Parquet dataset `out` (layout: `ferx.runs.store`).

    Args:
        inputs: INPUT as `ferx batch` takes it (folder, glob, list file, table; paths or URIs), or a
            list of paths/URIs.
        out: the dataset folder; a rerun or resume with the same config and options adds only the
            inputs it does not hold yet.
        engine: "local" (process pool) or "ray".
        workers: processes / actors (default: all CPUs of this machine / the cluster).
        address: Ray only: None/"local" for a private loopback cluster, else an existing cluster.
        chunk: inputs per task sent to a worker.
        shard_size: inputs per committed shard (what a killed driver can lose at most).
        column: the column of a table INPUT that holds the paths (default: path or uri).
        quiet: no progress bar.
        on_progress: called with the number of inputs finished so far and the engine, after each
            result (tests use it to kill a worker midway).
    Returns:
        the summary, also written to `out/summary.json`.
    Raises:
        BulkError: OUTPUT unusable, in use, or made with other options. NoImagesError: no inputs.
    """
    config = config or AnalyzerConfig()
    options = options or RowOptions()
    uris = resolve_inputs(inputs, column=column) if isinstance(inputs, str) else _dedup(inputs)
    spec = {"row_format": ROW_FORMAT, "config": config.to_dict(), "rows": options.to_dict()}
    runner = make_engine(engine, config.to_dict(), options.to_dict(), workers=workers, chunk=chunk, address=address)
    sink = DatasetSink(Store(out, spec), uris, engine=engine, workers=runner.workers,
                       shard_size=shard_size, quiet=quiet, on_progress=on_progress, engine_object=runner)
    return drive(sink, runner, defer=True)


def _dedup(uris: Sequence[str]) -> list[str]:
    out: dict[str, None] = {}
    for u in uris:
        u = os.fspath(u)
        out[u if "://" in u else os.path.abspath(u)] = None
    return list(out)


class DatasetSink:
    """The dataset being written: takes the engine's tables of transport rows, commits whole inputs in
    shards (`Store.commit`), counts, and writes summary.json."""

    def __init__(self, store: Store, uris: list[str], *, engine: str, workers: int | None, shard_size: int,
                 quiet: bool, on_progress: Callable[[int, Any], None] | None, engine_object: Any = None) -> None:
        self.store, self.uris = store, uris
        self.summary = BulkSummary(status="running", engine=engine, workers=workers, inputs=len(uris))
        self.shard_size = max(1, shard_size)
        self.quiet, self.on_progress, self.engine_object = quiet, on_progress, engine_object
        self.progress: Progress | None = None
        self.todo: list[tuple[int, str]] = []
        self.finished = 0  # counted here: a disabled bar does not count
        # rows received and not committed yet (bounded by about one shard)
        self.parts: list[Any] = []  # Arrow tables of "ok" rows, with _seq
        self.failures: dict[int, dict[str, Any]] = {}
        self.truncated: set[int] = set()
        self.received: dict[int, int] = {}
        self.expected: dict[int, int] = {}
        self.meta: dict[int, tuple[str, str | None]] = {}  # seq → (uri, sha256)
        self.faces_of: dict[int, int] = {}
        self.ready: list[int] = []
        self.reserve = Reserve(store.state / "reserve")  # room for summary.json on a full disk (runs.space)
        self.unwritable: str | None = None  # why the dataset could not be written (a full disk)

    def open(self) -> None:
        self.store.open()
        try:
            self.reserve.make()
        except OSError as e:
            raise BulkError(f"cannot write to {self.store.out}: {reason(e)}") from None

    def start(self, info: PipelineInfo) -> list[tuple[int, str]]:
        self.store.describe(info.to_dict())
        # done inputs are named as their rows name them (`printable`: a name with bytes that are not UTF-8)
        self.todo = [(i, u) for i, u in enumerate(self.uris) if printable(u) not in self.store.done]
        self.summary.skipped = len(self.uris) - len(self.todo)
        self.progress = Progress(len(self.todo), "input", desc=f"ferx batch ({self.summary.engine})",
                                 quiet=self.quiet or not self.todo)
        return self.todo

    def write(self, table: Any, guard: InterruptGuard) -> None:
        n = self._receive(table)
        self.finished += n
        assert self.progress is not None
        self.progress.update(n, faces=self.summary.faces + sum(self.faces_of.get(s, 0) for s in self.ready),
                             failed=self.summary.failed + sum(1 for s in self.ready if s in self.failures))
        if len(self.ready) >= self.shard_size:
            with guard.hold():
                self._commit_or_stop()
        if self.on_progress is not None:
            self.on_progress(self.finished, self.engine_object)

    def finish(self, status: RunStatus) -> BulkSummary:
        # Whatever stopped the run (the end, a signal), the inputs received whole are committed: the
        # next run does not redo them — unless the disk is full, when they are left for the next run.
        if self.unwritable is None:
            try:
                self._commit_or_stop()
            except Aborted as e:
                status = RunStatus("aborted", status.seconds, reason=str(e))
        self._summarise(status)
        self.reserve.release()
        return self.summary

    def fail(self, status: RunStatus) -> None:
        try:  # the exception on its way out is the one to report
            self._commit()
            self._summarise(status)
        except OSError:
            pass

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
        self.reserve.release()
        self.store.close()

    def _commit_or_stop(self) -> None:
        """Commit a shard; a full disk stops the run ("aborted", its reason) rather than raising."""
        try:
            self._commit()
        except OSError as e:
            if not is_fatal_write(e):
                raise
            self.unwritable = f"the dataset could not be written: {reason(e)}"
            raise Aborted(self.unwritable) from None

    def _summarise(self, status: RunStatus) -> None:
        s = self.summary
        s.status, s.seconds, s.signal, s.reason = status.status, status.seconds, status.signal, status.reason
        s.pending = len(self.todo) - s.done - s.failed - s.truncated
        s.shards = self.store.shards
        done = self.store.done.values()
        s.dataset_inputs = sum(d.status != "failed" for d in done)
        s.dataset_faces = sum(d.faces for d in done)
        s.dataset_failed = sum(d.status == "failed" for d in done)
        self.reserve.write(lambda: self.store.write_summary(s.to_dict()))

    def _receive(self, table: Any) -> int:
        """Take in a table of transport rows; returns how many inputs it completed."""
        import pyarrow.compute as pc

        seqs = table.column("_seq").to_pylist()
        counts = table.column("_rows").to_pylist()
        status = table.column("_status").to_pylist()
        sources = table.column("source").to_pylist()
        names = table.column_names
        shas = table.column("content_sha256").to_pylist() if "content_sha256" in names else [None] * len(seqs)
        faces = table.column("face").to_pylist() if "face" in names else [None] * len(seqs)
        ok = pc.equal(table.column("_status"), "ok")
        if pc.any(ok).as_py():
            self.parts.append(table.filter(ok))
        kinds = table.column("kind").to_pylist() if "kind" in names else [None] * len(seqs)
        errors = table.column("_error").to_pylist()
        messages = table.column("_message").to_pylist()
        completed = 0
        for i, seq in enumerate(seqs):
            self.expected[seq] = counts[i]
            self.received[seq] = self.received.get(seq, 0) + 1
            self.meta[seq] = (sources[i], shas[i])
            if status[i] != "ok":  # "failed", or "truncated": the reason a video's rows end early
                self.failures[seq] = {"source": sources[i], "content_sha256": shas[i], "kind": kinds[i],
                                      "error": errors[i], "message": messages[i]}
                if status[i] == "truncated":
                    self.truncated.add(seq)
            elif faces[i] is not None:
                self.faces_of[seq] = self.faces_of.get(seq, 0) + 1
            if self.received[seq] == self.expected[seq]:
                self.ready.append(seq)
                completed += 1
        return completed

    def _commit(self) -> None:
        """Write the inputs received whole as one shard."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.ready:
            return
        ready = set(self.ready)
        keep = pa.array(sorted(ready), pa.int64())
        faces_table = None
        if self.parts:
            everything = pa.concat_tables(self.parts)
            mine = pc.is_in(everything.column("_seq"), value_set=keep)
            faces_table = everything.filter(mine)
            rest = everything.filter(pc.invert(mine))
            self.parts = [rest] if rest.num_rows else []
            faces_table = faces_table.sort_by([("_seq", "ascending"), ("frame", "ascending"), ("face", "ascending")])
            faces_table = faces_table.drop_columns([c for c in TRANSPORT_COLUMNS if c in faces_table.column_names])
            # the transport (processes, Ray) drops schema metadata: pandas types face/track by this
            faces_table = faces_table.replace_schema_metadata(pandas_metadata(faces_table.column_names))
        failed_rows = [self.failures[s] for s in sorted(ready) if s in self.failures]
        errors_table = pa.Table.from_pylist(failed_rows, schema=error_schema()) if failed_rows else None
        done = [self._done(s) for s in sorted(ready)]
        self.store.commit(faces_table, errors_table, done)
        for s, d in zip(sorted(ready), done):
            if d.status == "failed":
                self.summary.failed += 1
            else:
                self.summary.done += d.status == "ok"
                self.summary.truncated += d.status == "truncated"
                self.summary.faces += d.faces
                self.summary.rows += d.rows
            if s in self.failures and len(self.summary.errors) < 20:
                f = self.failures[s]
                self.summary.errors.append({"source": f["source"], "error": f["error"], "message": f["message"]})
        for s in ready:
            for d in (self.expected, self.received, self.meta, self.faces_of, self.failures):
                d.pop(s, None)
            self.truncated.discard(s)
        self.ready = []

    def _done(self, seq: int) -> Done:
        """The manifest entry of an input received whole."""
        uri, sha = self.meta[seq]
        if seq in self.truncated:  # its rows in faces/, and one row in errors/ saying why it ended early
            return Done(uri, sha, "truncated", self.expected[seq] - 1, self.faces_of.get(seq, 0))
        status = "failed" if seq in self.failures else "ok"
        return Done(uri, sha, status, self.expected[seq], self.faces_of.get(seq, 0))


__all__ = ["BulkSummary", "DatasetSink", "run_dataset"]
