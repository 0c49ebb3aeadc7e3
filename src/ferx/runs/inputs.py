"""What `ferx batch` reads: INPUT as a folder, a glob, a list file or a table, of local paths or fsspec
URIs (`s3://`, `gs://`, `file://`, ...), resolved into an ordered list of unique URIs.

- a folder (local or URI): every image and video in it, recursively (by extension: scanning a
  million objects by content would read them all twice);
- a glob (`photos/**/*.jpg`, `s3://bucket/frames/*.png`): what it matches, whatever the extension;
- a list file (`.txt`, `.lst`): one path or URI per line; blank lines and `#` comments skipped;
  relative paths are relative to the list file's folder, so a list travels with its data;
- a table (`.csv`, `.tsv`, `.parquet`, `.jsonl`): the column `path`, `uri` or `column=`;
- anything else that exists: that one file.

Local paths become absolute (the manifest identifies an input by its URI, so a rerun from another
working directory still recognises it). Files are kept in the order given; duplicates once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ferx.errors import ConfigError, NoImagesError
from ferx.io import IMAGE_EXTENSIONS

LIST_SUFFIXES = (".txt", ".lst")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")
_GLOB_CHARS = set("*?[")


def media_extensions() -> frozenset[str]:
    from ferx.video.sniff import VIDEO_EXTENSIONS  # standard library only

    return IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def resolve_inputs(spec: str, *, column: str | None = None) -> list[str]:
    """The URIs INPUT names (see the module docstring).

    Raises:
        NoImagesError: nothing found. ConfigError: a table without the column, an unreadable list.
    """
    remote = "://" in spec
    if any(c in _GLOB_CHARS for c in spec):
        uris = _glob(spec)
    elif remote:
        uris = _remote(spec, column)
    else:
        path = Path(spec)
        if path.is_dir():
            uris = _scan_local(path)
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            uris = _list_file(spec, column)
        elif path.suffix.lower() in TABLE_SUFFIXES and path.is_file():
            uris = _table(spec, column)
        elif path.exists():
            uris = [os.path.abspath(spec)]
        else:
            raise NoImagesError(f"{spec}: no such file or folder")
    uris = _unique(uris)
    if not uris:
        raise NoImagesError(f"{spec}: no images or videos found")
    return uris


def _unique(uris: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for u in uris:
        if u not in seen:
            seen.add(u)
            out.append(u)
    return out


def _scan_local(folder: Path) -> list[str]:
    exts = media_extensions()
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files)
                     if not f.startswith(".") and os.path.splitext(f)[1].lower() in exts)
    return [os.path.abspath(f) for f in found]


def _glob(spec: str) -> list[str]:
    if "://" not in spec:
        import glob

        # a broken link stays in, to be reported as one, as a folder scan keeps it
        return [os.path.abspath(p) for p in sorted(glob.glob(spec, recursive=True))
                if os.path.isfile(p) or (os.path.islink(p) and not os.path.exists(p))]
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(spec)
    # hidden files are left out, as a local glob does
    return [fs.unstrip_protocol(p) for p in sorted(paths) if not os.path.basename(p).startswith(".") and fs.isfile(p)]


def _remote(spec: str, column: str | None) -> list[str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(spec)
    if fs.isdir(path):
        exts = media_extensions()
        return [fs.unstrip_protocol(p) for p in sorted(fs.find(path))
                if os.path.splitext(p)[1].lower() in exts and not os.path.basename(p).startswith(".")]
    suffix = os.path.splitext(path)[1].lower()
    if suffix in LIST_SUFFIXES:
        return _list_file(spec, column)
    if suffix in TABLE_SUFFIXES:
        return _table(spec, column)
    if fs.isfile(path):
        return [spec]
    raise NoImagesError(f"{spec}: no such file or folder")


def _join(base: str, entry: str) -> str:
    """`entry` from a list or table at `base`: URIs and absolute paths as they are, relative paths
    against the list's folder."""
    if "://" in entry or os.path.isabs(entry):
        return entry
    if "://" in base:
        return base.rsplit("/", 1)[0] + "/" + entry
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(base)), entry))


def _open_text(spec: str) -> str:
    if "://" in spec:
        import fsspec

        with fsspec.open(spec, "rt", encoding="utf-8") as f:
            return f.read()
    return Path(spec).read_text(encoding="utf-8")


def _list_file(spec: str, column: str | None) -> list[str]:
    lines = _open_text(spec).splitlines()
    return [_join(spec, s) for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def _table(spec: str, column: str | None) -> list[str]:
    suffix = os.path.splitext(spec)[1].lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        if "://" in spec:
            import fsspec

            with fsspec.open(spec, "rb") as f:
                table = pq.read_table(f)
        else:
            table = pq.read_table(spec)
        names = table.column_names

        def get(name: str) -> list[str]:
            return [str(v) for v in table.column(name).to_pylist() if v is not None]
    else:
        import io

        import pandas as pd

        text = _open_text(spec)
        if suffix in (".jsonl", ".ndjson"):
            df = pd.read_json(io.StringIO(text), lines=True, dtype=False)
        else:
            df = pd.read_csv(io.StringIO(text), sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
        names = [str(c) for c in df.columns]

        def get(name: str) -> list[str]:
            return [str(v) for v in df[name].tolist() if isinstance(v, str) and v]
    wanted = [column] if column else ["path", "uri"]
    for name in wanted:
        if name in names:
            return [_join(spec, v) for v in get(name)]
    raise ConfigError(f"{spec}: no column {' or '.join(repr(w) for w in wanted)} (columns: {', '.join(names)})")


__all__ = ["LIST_SUFFIXES", "TABLE_SUFFIXES", "media_extensions", "resolve_inputs"]
