"""End-to-end speed on this machine: milliseconds per image and per face, per stage.

Cases (images built from lfw-expressions photos, deterministic):
  single  — one face (~220 px) in a 640x480 frame;
  group   — ten faces of 40–160 px in a 1920x1080 frame.
Each runs with the default config (min_face 24) and with min_face 64 (portrait/webcam use, where
faces are large): the detector's finest pyramid level dominates the cost of small frames.

    python benchmarks/bench_speed.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np

from ferx import Analyzer
from ferx.data.mosaic import compose, single_faces

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"


def make_cases() -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    rng = np.random.default_rng(7)
    with Analyzer(aus=None, expression=None, explain=None) as a:
        refs = single_faces(a, [LFW / "images" / row["image"] for row in rows[::41]], 12)
    single = compose([refs[0][0]], [refs[0][1]], [220], (640, 480), rng).image
    group = compose([r[0] for r in refs[:10]], [r[1] for r in refs[:10]],
                    list(rng.integers(40, 160, size=10)), (1920, 1080), rng).image
    return {"single 640x480": single, "group 1920x1080": group}


def bench(analyzer: Analyzer, image: np.ndarray, repeats: int) -> tuple[dict[str, float], int]:
    for _ in range(3):
        analyzer.analyze(image)
    stages: dict[str, list[float]] = {}
    n_faces = 0
    for _ in range(repeats):
        t = time.perf_counter()
        r = analyzer.analyze(image)
        wall = (time.perf_counter() - t) * 1e3
        for k, v in r.timings_ms.items():
            stages.setdefault(k, []).append(v)
        stages.setdefault("wall", []).append(wall)
        n_faces = len(r.faces)
    return {k: float(np.median(v)) for k, v in stages.items()}, n_faces


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    cases = make_cases()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; numbers are medians of {args.repeats} runs")
    print("| case | min_face | faces | ms/image | images/s | ms/face | detect | landmarks | verify | aus | expression | explain |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for min_face in (24, 64):
        with Analyzer(detector={"name": "blazeface", "options": {"min_face": min_face}}) as analyzer:
            for name, image in cases.items():
                t, n = bench(analyzer, image, args.repeats)
                print(
                    f"| {name} | {min_face} | {n} | {t['wall']:.1f} | {1000 / t['wall']:.1f} | {t['wall'] / max(n, 1):.1f} | "
                    f"{t['detect']:.1f} | {t['landmarks']:.1f} | {t.get('verify', float('nan')):.2f} | {t['aus']:.2f} | "
                    f"{t['expression']:.2f} | "
                    f"{t.get('explain', float('nan')):.2f} |"
                )


if __name__ == "__main__":
    main()
