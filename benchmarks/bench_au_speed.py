"""Milliseconds per face of the AU stages, one thread, on lfw photos whose faces (landmarks,
blendshapes) were found beforehand: "facs" (the default: measures of the mesh, canonical geometry and
the image heads' aligned crop + region masks + onnxruntime, calibration, facial logic) and
"blendshapes" (the mesh alone). The issue-21 budget: ≤ 3 ms per face on one core.

    python benchmarks/bench_au_speed.py [--faces 40] [--repeats 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--stages", default="facs,blendshapes")
    args = ap.parse_args()
    from ferx import Analyzer, load_image
    from ferx.stages import AU_ESTIMATORS

    photos = sorted((LFW / "images").glob("*.jpg"))[::50][: args.faces]
    items = []
    with Analyzer(aus=None, explain=None, expression=None) as a:
        for p in photos:
            img = load_image(p)
            faces = a.analyze(img).faces
            if len(faces):
                items.append((img, faces[:1]))
    for name in args.stages.split(","):
        with AU_ESTIMATORS.create(name, threads=1) as stage:
            for img, faces in items[:3]:
                stage.process(img, faces)
            per = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for img, faces in items:
                    stage.process(img, faces)
                per.append((time.perf_counter() - t0) / len(items) * 1e3)
        print(f"{name:12s} {np.median(per):.3f} ms/face (median of {args.repeats} passes over {len(items)} faces, "
              f"min {np.min(per):.3f})")


if __name__ == "__main__":
    main()
