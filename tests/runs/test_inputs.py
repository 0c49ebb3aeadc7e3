"""INPUT forms of `ferx batch`: folder, glob, list file, tables, fsspec URIs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ferx.errors import ConfigError, NoImagesError
from ferx.runs.inputs import resolve_inputs


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    for name in ("a/1.jpg", "a/2.PNG", "3.mp4", "notes.txt", "a/.hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_folder_is_scanned_recursively_for_media(tree: Path) -> None:
    assert resolve_inputs(str(tree)) == [str(tree / "3.mp4"), str(tree / "a/1.jpg"), str(tree / "a/2.PNG")]


def test_glob(tree: Path) -> None:
    assert resolve_inputs(str(tree / "**" / "*.jpg")) == [str(tree / "a/1.jpg")]


def test_list_file_relative_to_itself(tree: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tree / "list.txt").write_text("# photos\na/1.jpg\n\n" + str(tree / "3.mp4") + "\na/1.jpg\ns3://bucket/x.jpg\n")
    monkeypatch.chdir("/")
    assert resolve_inputs(str(tree / "list.txt")) == [str(tree / "a/1.jpg"), str(tree / "3.mp4"),
                                                     "s3://bucket/x.jpg"]


def test_tables(tree: Path) -> None:
    (tree / "t.csv").write_text("uri,label\na/1.jpg,happy\na/2.PNG,sad\n")
    assert resolve_inputs(str(tree / "t.csv")) == [str(tree / "a/1.jpg"), str(tree / "a/2.PNG")]
    pq.write_table(pa.table({"file": [str(tree / "3.mp4")]}), tree / "t.parquet")
    assert resolve_inputs(str(tree / "t.parquet"), column="file") == [str(tree / "3.mp4")]
    (tree / "t.jsonl").write_text('{"path": "a/1.jpg"}\n')
    assert resolve_inputs(str(tree / "t.jsonl")) == [str(tree / "a/1.jpg")]
    with pytest.raises(ConfigError, match="no column"):
        resolve_inputs(str(tree / "t.parquet"))


def test_fsspec_uris(tree: Path) -> None:
    found = resolve_inputs(f"file://{tree}")
    assert [u.removeprefix("file://") for u in found] == [str(tree / "3.mp4"), str(tree / "a/1.jpg"),
                                                          str(tree / "a/2.PNG")]
    assert all(u.startswith("file://") for u in found)
    assert resolve_inputs(f"file://{tree}/a/*.jpg") == [f"file://{tree}/a/1.jpg"]


def test_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(NoImagesError):
        resolve_inputs(str(tmp_path))
    with pytest.raises(NoImagesError):
        resolve_inputs(str(tmp_path / "missing"))
