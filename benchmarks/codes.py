"""Run a measurement under this checkout and under an earlier commit, each in its own process (helper
for bench_faces.py and bench_detect_speed.py).

The earlier commit's `src/` is extracted with `git archive` into a temporary folder and put first on
PYTHONPATH; both use this environment's packages. A child script prints one JSON line last.
`--variant LABEL=JSON` (`add_variant_option`, `variants`) also measures this checkout with other
Analyzer settings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def code_sources(base: str | None) -> Iterator[dict[str, Path]]:
    """{"base COMMIT": its src/, "this checkout": ROOT/src} (only the checkout without a base)."""
    with tempfile.TemporaryDirectory(prefix="ferx-base-") as tmp:
        sources = {}
        if base:
            archive = subprocess.run(["git", "archive", base, "src"], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            sources[f"base {base}"] = Path(tmp) / "src"
        sources["this checkout"] = ROOT / "src"
        yield sources


def run_child(src: Path, script: str, *args: str) -> dict:
    """The last JSON line `script` prints, run with `src` first on PYTHONPATH; checks it ran that code."""
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    if done.returncode:
        raise RuntimeError(f"child under {src} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if not str(out.get("module", "")).startswith(str(src)):
        raise RuntimeError(f"child did not run the code under {src}: {out.get('module')}")
    return out


def machine_load() -> str:
    """The load averages (1, 5, 15 min) as a short string."""
    return "load average " + ", ".join(f"{v:.1f}" for v in os.getloadavg())


def add_variant_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL=JSON",
                    help="also measure this checkout with these Analyzer overrides (repeatable)")


def variants(texts: list[str]) -> list[tuple[str, dict]]:
    """--variant values as (label, Analyzer overrides)."""
    out = []
    for text in texts:
        label, _, overrides = text.partition("=")
        out.append((label, json.loads(overrides)))
    return out
