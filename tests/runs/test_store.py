"""The exactly-once commit of `ferx.runs.store`, at each point where a run can stop (no models)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ferx.runs.store import BulkError, Done, Store

SPEC = {"config": {"detector": "x"}, "rows": {}}


def _table(sources: list[str]) -> pa.Table:
    return pa.table({"source": sources, "face": pa.array(range(len(sources)), pa.int32())})


def _commit(store: Store, names: list[str]) -> None:
    store.commit(_table(names), None, [Done(n, "0" * 64, "ok", 1, 1) for n in names])


def _sources(out: Path) -> list[str]:
    files = sorted((out / "faces").glob("*.parquet"))
    return sorted(s for f in files for s in pq.read_table(f).column("source").to_pylist())


def test_commit_and_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path, SPEC)
    store.open()
    _commit(store, ["a", "b"])
    _commit(store, ["c"])
    store.close()
    again = Store(tmp_path, SPEC)
    again.open()
    assert sorted(again.done) == ["a", "b", "c"] and again.shards == 2
    again.close()
    assert _sources(tmp_path) == ["a", "b", "c"]


def test_uncommitted_staging_is_rolled_back(tmp_path: Path) -> None:
    store = Store(tmp_path, SPEC)
    store.open()
    _commit(store, ["a"])
    # a crash after the shard was staged and before its manifest line: stage a file by hand
    pq.write_table(_table(["b"]), tmp_path / "_ferx" / "staging" / "faces__part-000001-deadbeef.parquet")
    store.close()
    again = Store(tmp_path, SPEC)
    again.open()
    again.close()
    assert sorted(again.done) == ["a"]
    assert not any((tmp_path / "_ferx" / "staging").iterdir())
    assert _sources(tmp_path) == ["a"]


def test_committed_staging_is_rolled_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path, SPEC)
    store.open()
    # a crash after the manifest line and before the rename into faces/
    real_replace = os.replace

    def crash_on_rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if "/_ferx/staging/" in str(src) and "/_ferx/staging/" not in str(dst):  # the move into faces/
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_rename)
    with pytest.raises(KeyboardInterrupt):
        _commit(store, ["a", "b"])
    monkeypatch.setattr(os, "replace", real_replace)
    store.close()
    assert _sources(tmp_path) == []
    again = Store(tmp_path, SPEC)
    again.open()
    again.close()
    assert sorted(again.done) == ["a", "b"] and _sources(tmp_path) == ["a", "b"]


def test_torn_manifest_line_is_dropped(tmp_path: Path) -> None:
    store = Store(tmp_path, SPEC)
    store.open()
    _commit(store, ["a"])
    store.close()
    manifest = tmp_path / "_ferx" / "manifest.jsonl"
    with open(manifest, "ab") as f:
        f.write(b'{"shard": "part-000001-0000", "files": [], "inputs": [["b", nu')
    again = Store(tmp_path, SPEC)
    again.open()
    _commit(again, ["c"])
    again.close()
    assert manifest.read_bytes().count(b"\n") == 2
    final = Store(tmp_path, SPEC)
    final.open()
    final.close()
    assert sorted(final.done) == ["a", "c"]


def test_one_writer_at_a_time_and_same_options(tmp_path: Path) -> None:
    store = Store(tmp_path, SPEC)
    store.open()
    with pytest.raises(BulkError, match="another"):
        Store(tmp_path, SPEC).open()
    store.close()
    with pytest.raises(BulkError, match="other options"):
        Store(tmp_path, {"config": {"detector": "y"}, "rows": {}}).open()
