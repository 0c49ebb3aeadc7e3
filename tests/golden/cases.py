"""Reference outputs of ferx's commands on real data, and how they are compared.

Each case runs a command line of `ferx` in this process, on inputs read from ../shared/data, and
turns the output folder into a mapping {file name: normalised text}:

- timings (`timings_ms`, a run's `seconds`, `fps`, rates) are removed: they change every run;
- absolute paths become `$SHARED/…`, `$FERX/…` (the installed package) and `$OUT/…`, so the
  fixtures hold in any checkout;
- a face's 478 landmarks are replaced by the sha256 of their JSON text (exact, and small);
- Parquet datasets become CSV text in the order their manifest committed them; pictures (PNG, SVG,
  JPEG, MP4) are not compared.

The fixtures under tests/golden/fixtures/ are this mapping, one file per entry. When outputs change
on purpose (new AU values, a new column), regenerate them and commit the change with its reason:

    .venv/bin/python tests/golden/regenerate.py            # every case
    .venv/bin/python tests/golden/regenerate.py demo clip  # some cases
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import LFW, SHARED

FIXTURES = Path(__file__).parent / "fixtures"
CLIP = SHARED / "videos" / "WolfgangLanger_Pexels.mp4"
#: keys whose values are timings (or derived from them) wherever they appear at the top of a summary
_TIMING_KEYS = frozenset({"seconds", "fps", "inputs_per_s", "faces_per_s"})
_PICTURES = frozenset({".png", ".svg", ".jpg", ".jpeg", ".mp4"})


def lfw_sample(n: int = 20) -> list[Path]:
    """A fixed spread of lfw-expressions photos: every 118th row of labels.csv (all emotions, small
    RGB photos among the grey ones)."""
    with open(LFW / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    return [LFW / "images" / r["image"] for r in rows[:: len(rows) // n][:n]]


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Path], list[str]]  # the command line, given the output folder
    exit_code: int = 0


def _demo(out: Path) -> list[str]:
    return ["analyze", "--demo", "--format", "json,csv", "--out", str(out), "-q"]


def _lfw(out: Path) -> list[str]:
    return ["analyze", *map(str, lfw_sample()), "--format", "json,csv", "--out", str(out), "-q"]


def _clip(out: Path) -> list[str]:
    return ["analyze", str(CLIP), "--format", "csv", "--no-timelines", "--out", str(out), "-q"]


def _batch(out: Path) -> list[str]:
    from ferx.assets import demo_image

    return ["batch", str(_list_file(out.parent, [demo_image(), *lfw_sample()])), str(out), "--workers", "1", "-q"]


def _list_file(folder: Path, paths: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "inputs.txt"
    target.write_text("".join(f"{p}\n" for p in paths))
    return target


CASES = {c.name: c for c in (Case("demo", _demo), Case("lfw", _lfw), Case("clip", _clip), Case("batch", _batch))}
#: cases run by the default (not slow) test run; the others are marked slow
FAST = ("demo", "lfw", "clip")


def run_case(case: Case, workdir: Path) -> dict[str, str]:
    """Run `case` into a fresh folder under `workdir`; returns its normalised outputs."""
    from ferx.cli import main

    out = workdir / case.name
    code = main(case.argv(out))
    if code != case.exit_code:
        raise AssertionError(f"golden case {case.name}: exit status {code}, expected {case.exit_code}")
    return normalise_folder(out)


def normalise_folder(out: Path) -> dict[str, str]:
    """{relative name: normalised text} for every compared file under `out`."""
    import ferx

    replacements = [(str(out.resolve()), "$OUT"), (str(out), "$OUT"), (str(SHARED.resolve()), "$SHARED"),
                    (str(SHARED), "$SHARED"), (str(Path(ferx.__file__).parent), "$FERX")]
    files: dict[str, str] = {}
    if (out / "_ferx" / "manifest.jsonl").is_file():
        files.update(_dataset(out))
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if path.suffix.lower() in _PICTURES or rel.startswith(("_ferx/", "faces/", "errors/")) or rel.endswith("lock"):
            continue
        files[rel] = _normalise_file(path)
    return {k: _replace_all(v, replacements) for k, v in files.items()}


def _replace_all(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def _normalise_file(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return _dump(_strip(json.loads(text), top=True))
    if path.suffix == ".jsonl":
        return "".join(_dump(_strip(json.loads(line), top=True)) for line in text.splitlines() if line.strip())
    return text


def _strip(value: Any, *, top: bool = False) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "timings_ms" or (top and k in _TIMING_KEYS):
                continue
            if k == "landmarks" and isinstance(v, list):
                v = "sha256:" + hashlib.sha256(json.dumps(v).encode()).hexdigest()
            # the top-level summary's line per video is a summary too: its seconds are a timing
            out[k] = [_strip(x, top=True) for x in v] if top and k == "videos" and isinstance(v, list) else _strip(v)
        return out
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def _dataset(out: Path) -> dict[str, str]:
    """A `ferx batch` dataset as text: its rows and errors in commit order, its inputs and spec."""
    import pyarrow.parquet as pq

    entries = [json.loads(line) for line in (out / "_ferx" / "manifest.jsonl").read_text().splitlines() if line]
    result: dict[str, str] = {}
    for folder in ("faces", "errors"):
        tables = [pq.read_table(out / rel) for e in entries for rel in e["files"] if rel.startswith(folder + "/")]
        if tables:
            import pyarrow as pa

            frame = pa.concat_tables(tables).to_pandas()
            buf = io.StringIO()
            frame.to_csv(buf, index=False, lineterminator="\n")
            result[f"{folder}.csv"] = buf.getvalue()
    result["_ferx/inputs.json"] = _dump([i for e in entries for i in e["inputs"]])
    result["_ferx/run.json"] = _dump(json.loads((out / "_ferx" / "run.json").read_text())["spec"])
    return result


def read_fixture(name: str) -> dict[str, str]:
    folder = FIXTURES / name
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_fixture(name: str, files: dict[str, str]) -> None:
    import shutil

    folder = FIXTURES / name
    shutil.rmtree(folder, ignore_errors=True)
    for rel, text in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def workdir_for(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    return Path(os.path.realpath(base))
