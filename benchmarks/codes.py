"""Run a measurement under this checkout and under an earlier commit, each in its own process (helper
for bench_faces.py and bench_detect_speed.py).

The earlier commit's `src/` is extracted with `git archive` into a temporary folder and put first on
PYTHONPATH; both use this environment's packages. A child script prints one JSON line last.
"""

from __future__ import annotations

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
