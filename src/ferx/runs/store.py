"""The output dataset of `ferx batch` (`ferx.runs.layout.DATASET`) and how rows get into it exactly once.

Layout (OUT):

    OUT/faces/part-NNNNNN-XXXXXXXX.parquet    one row per face, and one per image/frame without a face
    OUT/errors/part-NNNNNN-XXXXXXXX.parquet   one row per input that failed: source, error, message
    OUT/summary.json                          written atomically at the end of every run
    OUT/_ferx/run.json                        what defines the dataset: analyzer config, row options
    OUT/_ferx/manifest.jsonl                  one line per committed shard: its files and its inputs
    OUT/_ferx/staging/                        shard files not committed yet
    OUT/_ferx/lock                            held (flock) by the run writing OUT

A shard is committed in two phases, the manifest line being the commit point:

1. its Parquet files are written, atomically, into `_ferx/staging/`;
2. one line naming the files and listing the shard's inputs is appended to the manifest and fsync'ed;
3. the files are renamed from staging into `faces/` and `errors/`.

A crash before 2 leaves staging files that no manifest line names: the next run deletes them (their
inputs are not done, so they are analysed again). A crash after 2 leaves named staging files: the next
run finishes the renames. A torn last manifest line (a crash inside 2) is cut off. So `faces/` and
`errors/` only ever hold committed shards, every input in the manifest has its rows there exactly
once, and no input is in two shards (a run skips every input the manifest lists).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferx.fsutil import FolderLock, atomic_write_bytes
from ferx.runs.driver import SetupError
from ferx.runs.layout import DATASET
from ferx.runs.ledger import JsonLog, RunSpec, SettingsMismatch

STATE = DATASET.state
FACES = DATASET.rows[0]
ERRORS = DATASET.errors or "errors"


class BulkError(SetupError):
    """The batch cannot start: OUTPUT is unusable, in use, or holds a dataset made with other options."""


@dataclass(frozen=True)
class Done:
    """An input listed in the manifest."""

    uri: str
    sha256: str | None
    status: str  # "ok", "failed", or "truncated" (a video that ended early: its rows, and a row in errors/)
    rows: int  # rows in faces/ ("ok", "truncated") or in errors/ ("failed")
    faces: int  # faces among those rows


def error_schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field("source", pa.string()), pa.field("content_sha256", pa.string()),
                      pa.field("kind", pa.string()), pa.field("error", pa.string()),
                      pa.field("message", pa.string())])


class Store:
    """OUTPUT: holds the lock, recovers from an interrupted run, commits shards."""

    def __init__(self, out: str | os.PathLike[str], spec: dict[str, Any]) -> None:
        self.out = Path(out)
        self.spec = RunSpec(spec)
        self.state = self.out / STATE
        self.staging = self.state / "staging"
        self.manifest = JsonLog(self.out / DATASET.ledger)  # type: ignore[operator]
        self.done: dict[str, Done] = {}
        self.shards = 0
        self._lock: FolderLock | None = None

    # -- opening -------------------------------------------------------------------------------------
    def open(self) -> None:
        """Create or reopen OUTPUT: lock it, check its options, recover, read the manifest.

        Raises:
            BulkError: OUTPUT is a file, is in use by another run, or holds a dataset made with other
                options.
        """
        if "://" in str(self.out):
            raise BulkError(f"OUTPUT must be a local or mounted folder (atomic renames are needed), got {self.out}")
        try:
            for d in (self.out, self.state, self.staging, self.out / FACES, self.out / ERRORS):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BulkError(f"cannot use {self.out} as the output dataset: {e.strerror or e}") from None
        self._lock = FolderLock(self.state / "lock")
        if not self._lock.acquire():
            self.close()
            raise BulkError(f"{self.out} is being written by another `ferx batch` run")
        try:
            self._check_spec()
            self._recover()
        except BaseException:
            self.close()
            raise
        self.manifest.open()

    def _check_spec(self) -> None:
        path = DATASET.run_json(self.out)
        try:
            stored = RunSpec.read(path)
        except SettingsMismatch as e:
            raise BulkError(str(e)) from None
        if stored is None:
            self.spec.write(path)
        elif self.spec.differences(stored):
            raise BulkError(
                f"{self.out} holds a dataset made with other options ({', '.join(self.spec.differences(stored))}); "
                "its rows would not match: write to another OUTPUT, or use the same options to resume it")

    def describe(self, analyzer: dict[str, Any]) -> None:
        """Record what the analyzer produces (`PipelineInfo.to_dict()`) in run.json, for readers of
        the dataset (the report reads the AU grades from it)."""
        path = DATASET.run_json(self.out)
        stored = RunSpec.read(path) or {}
        if stored.get("analyzer") != analyzer:
            self.spec.write(path, analyzer=analyzer)

    def _recover(self) -> None:
        lines = self.manifest.read(repair=True)  # a torn last line: that shard was never committed
        named: set[str] = set()
        for entry in lines:
            self.shards += 1
            for rel in entry["files"]:
                named.add(_staged_name(rel))
                staged = self.staging / _staged_name(rel)
                if staged.exists():  # committed, not yet moved into place: finish the commit
                    os.replace(staged, self.out / rel)
            for uri, sha, status, rows, faces in entry["inputs"]:
                self.done[uri] = Done(uri, sha, status, rows, faces)
        for f in self.staging.iterdir():
            if f.name not in named:  # written by a run that stopped before committing it
                f.unlink()
        _fsync_dir(self.out / FACES)
        _fsync_dir(self.out / ERRORS)

    # -- committing ------------------------------------------------------------------------------------
    def commit(self, faces: Any, errors: Any, inputs: list[Done]) -> None:
        """Write one shard: the rows of `inputs` (`faces`, `errors`: Arrow tables or None)."""
        import pyarrow.parquet as pq

        name = f"part-{self.shards:06d}-{uuid.uuid4().hex[:8]}.parquet"
        files: list[str] = []
        for folder, table in ((FACES, faces), (ERRORS, errors)):
            if table is None or not table.num_rows:
                continue
            rel = f"{folder}/{name}"
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            atomic_write_bytes(self.staging / _staged_name(rel), buf.getvalue())
            files.append(rel)
        line = {"shard": name, "files": files,
                "inputs": [[d.uri, d.sha256, d.status, d.rows, d.faces] for d in inputs]}
        self.manifest.append(line, fsync=True)  # the commit point
        for rel in files:
            os.replace(self.staging / _staged_name(rel), self.out / rel)
        for folder in {rel.split("/")[0] for rel in files}:
            _fsync_dir(self.out / folder)
        self.shards += 1
        for d in inputs:
            self.done[d.uri] = d

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_bytes(self.out / DATASET.summary, json.dumps(summary, indent=1, ensure_ascii=False).encode())

    def close(self) -> None:
        self.manifest.close()
        if self._lock is not None:
            self._lock.release()


def _staged_name(rel: str) -> str:
    return rel.replace("/", "__")


def _fsync_dir(path: Path) -> None:
    """Make renames into `path` durable (a crash after the rename must not undo it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["ERRORS", "FACES", "BulkError", "Done", "Store", "error_schema"]
