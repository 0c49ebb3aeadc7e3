"""The driver of `ferx batch`: resolve inputs, skip what the dataset already holds, run an engine,
commit whole inputs in shards, show progress, write the summary.

Only the driver writes to OUTPUT, and only through `Store.commit`; workers return rows. So a killed
worker loses nothing that was committed, and its inputs are simply run again; a killed driver loses
at most the uncommitted shard, whose inputs the next run (same command) analyses again.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from ferx import __version__
from ferx.config import AnalyzerConfig
from ferx.scale.engines import make_engine
from ferx.scale.inputs import resolve_inputs
from ferx.scale.rows import TRANSPORT_COLUMNS, RowOptions
from ferx.scale.store import Done, Store, error_schema

#: what a dataset's options fingerprint covers besides the config; bump when the rows change meaning
ROW_FORMAT = 1


@dataclass
class BulkSummary:
    """What summary.json says about one run. `done`, `failed`, `faces`, `rows` count this run;
    `dataset_*` the whole dataset, earlier runs included."""

    status: str  # "complete", "interrupted", "error" (an exception that is not about one input, re-raised)
    engine: str
    workers: int | None
    inputs: int
    done: int = 0
    skipped: int = 0  # already in the dataset, not redone
    failed: int = 0
    faces: int = 0
    rows: int = 0
    pending: int = 0  # neither done nor failed (the run stopped early)
    seconds: float = 0.0
    shards: int = 0
    dataset_inputs: int = 0
    dataset_faces: int = 0
    dataset_failed: int = 0
    signal: str | None = None
    errors: list[dict[str, str | None]] = field(default_factory=list)  # this run's, at most 20

    @property
    def rate(self) -> float:
        """Inputs finished (done or failed) per second in this run."""
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 128 + (signal.SIGTERM if self.signal == "SIGTERM" else signal.SIGINT)
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("status", "engine", "workers", "inputs", "done", "skipped", "failed",
                                            "faces", "rows", "pending", "shards", "dataset_inputs", "dataset_faces",
                                            "dataset_failed", "signal", "errors")}
        d.update(ferx_version=__version__, seconds=round(self.seconds, 3), inputs_per_s=round(self.rate, 3),
                 faces_per_s=round(self.faces / self.seconds, 3) if self.seconds > 0 else 0.0)
        return d

    def line(self) -> str:
        return (f"{self.status}: {self.done} done, {self.skipped} skipped (already done), {self.failed} failed, "
                f"{self.pending} pending; {self.faces} faces in {self.rows} rows; {self.seconds:.1f} s, "
                f"{self.rate:.2f} inputs/s, {self.faces / self.seconds if self.seconds else 0:.2f} faces/s")


def run_bulk(
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
    """Analyse every input into the Parquet dataset `out` (layout: `ferx.scale.store`).

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
    store = Store(out, spec)
    store.open()
    try:
        return _Driver(store, uris, config, options, engine=engine, workers=workers, address=address, chunk=chunk,
                       shard_size=shard_size, quiet=quiet, on_progress=on_progress).run()
    finally:
        store.close()


def _dedup(uris: Sequence[str]) -> list[str]:
    out: dict[str, None] = {}
    for u in uris:
        u = os.fspath(u)
        out[u if "://" in u else os.path.abspath(u)] = None
    return list(out)


def _check_config(config: AnalyzerConfig) -> None:
    """Build the analyzer once here, so that a bad config or a missing model file stops the run with
    its own message before any worker starts (a worker would report it once per process or actor)."""
    from ferx.pipeline import Analyzer

    Analyzer(config).close()


class _Driver:
    def __init__(self, store: Store, uris: list[str], config: AnalyzerConfig, options: RowOptions, *, engine: str,
                 workers: int | None, address: str | None, chunk: int, shard_size: int, quiet: bool,
                 on_progress: Callable[[int, Any], None] | None) -> None:
        self.store, self.uris, self.config = store, uris, config
        self.engine = make_engine(engine, config.to_dict(), options.to_dict(), workers=workers, chunk=chunk,
                                  address=address)
        self.summary = BulkSummary(status="running", engine=engine, workers=getattr(self.engine, "workers", workers),
                                   inputs=len(uris))
        self.shard_size = max(1, shard_size)
        self.quiet, self.on_progress = quiet, on_progress
        # rows received and not committed yet (bounded by about one shard)
        self.parts: list[Any] = []  # Arrow tables of "ok" rows, with _seq
        self.failures: dict[int, dict[str, Any]] = {}
        self.received: dict[int, int] = {}
        self.expected: dict[int, int] = {}
        self.meta: dict[int, tuple[str, str | None]] = {}  # seq → (uri, sha256)
        self.faces_of: dict[int, int] = {}
        self.ready: list[int] = []
        self.stop: int | None = None

    def run(self) -> BulkSummary:
        t0 = time.perf_counter()
        todo = [(i, u) for i, u in enumerate(self.uris) if u not in self.store.done]
        self.summary.skipped = len(self.uris) - len(todo)
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="input", disable=self.quiet or not todo, file=sys.stderr,
                   desc=f"ferx batch ({self.summary.engine})", dynamic_ncols=True)
        if todo:
            _check_config(self.config)
        old = self._trap_signals()
        status = "error"
        try:
            if todo:
                finished = 0  # counted here: a disabled tqdm bar does not count
                for table in self.engine.run(todo):
                    n = self._receive(table)
                    finished += n
                    bar.update(n)
                    bar.set_postfix(faces=self.summary.faces + sum(self.faces_of.get(s, 0) for s in self.ready),
                                    failed=self.summary.failed + sum(1 for s in self.ready if s in self.failures),
                                    refresh=False)
                    if len(self.ready) >= self.shard_size:
                        self._commit()
                    if self.on_progress is not None:
                        self.on_progress(finished, self.engine)
                    if self.stop is not None:
                        break
            status = "complete" if self.stop is None else "interrupted"
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, still keeping what arrived whole
            status, self.stop = "interrupted", self.stop or signal.SIGINT
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            bar.close()
            self.engine.close()
            # Whatever stopped the run (the end, a signal, an error), the inputs received whole are
            # committed: the next run does not redo them.
            if status == "error":
                try:  # the exception on its way out is the one to report
                    self._commit()
                    self._finish(todo, t0, status)
                except OSError:
                    pass
            else:
                self._commit()
                self._finish(todo, t0, status)
        return self.summary

    def _finish(self, todo: list[tuple[int, str]], t0: float, status: str) -> None:
        self.summary.status = status
        if self.stop is not None:
            self.summary.signal = signal.Signals(self.stop).name
        self.summary.seconds = time.perf_counter() - t0
        self.summary.pending = len(todo) - self.summary.done - self.summary.failed
        self.summary.shards = self.store.shards
        done = self.store.done.values()
        self.summary.dataset_inputs = sum(d.status == "ok" for d in done)
        self.summary.dataset_faces = sum(d.faces for d in done)
        self.summary.dataset_failed = sum(d.status != "ok" for d in done)
        self.store.write_summary(self.summary.to_dict())

    def _trap_signals(self) -> dict[int, Any]:
        """SIGINT/SIGTERM: finish the result in hand, commit, write the summary; a second one is not
        waited for."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handle(signum: int, frame: FrameType | None) -> None:
            if self.stop is not None:
                raise KeyboardInterrupt
            self.stop = signum

        return {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

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
            if status[i] != "ok":
                self.failures[seq] = {"source": sources[i], "content_sha256": shas[i], "kind": kinds[i],
                                      "error": errors[i], "message": messages[i]}
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
        failed_rows = [self.failures[s] for s in sorted(ready) if s in self.failures]
        errors_table = pa.Table.from_pylist(failed_rows, schema=error_schema()) if failed_rows else None
        done = []
        for s in sorted(ready):
            uri, sha = self.meta[s]
            failed = s in self.failures
            done.append(Done(uri, sha, "failed" if failed else "ok", self.expected[s], self.faces_of.get(s, 0)))
        self.store.commit(faces_table, errors_table, done)
        for s, d in zip(sorted(ready), done):
            if d.status == "ok":
                self.summary.done += 1
                self.summary.faces += d.faces
                self.summary.rows += d.rows
            else:
                self.summary.failed += 1
                if len(self.summary.errors) < 20:
                    f = self.failures[s]
                    self.summary.errors.append({"source": f["source"], "error": f["error"], "message": f["message"]})
        for s in ready:
            for d in (self.expected, self.received, self.meta, self.faces_of, self.failures):
                d.pop(s, None)
        self.ready = []


__all__ = ["BulkSummary", "run_bulk"]
