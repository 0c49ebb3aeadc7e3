"""Milliseconds per face of the AU estimators (1 thread): the mesh/blendshape table and the image
heads (`ferx.aus.image_heads`: aligned crop + region masks + onnxruntime + fusion), on lfw photos
whose faces (landmarks, blendshapes) were found beforehand.

    python benchmarks/bench_au_heads.py [--model au-heads | PATH.onnx] [--faces 40]
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
    ap.add_argument("--model", default="au-heads")
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    from ferx import Analyzer, load_image
    from ferx.aus.blendshapes import BlendshapeAUEstimator
    from ferx.aus.image_heads import ImageHeadAUEstimator

    photos = sorted((LFW / "images").glob("*.jpg"))[:: 50][: args.faces]
    items = []
    with Analyzer(aus=None, explain=None, expression=None) as a:
        for p in photos:
            img = load_image(p)
            faces = a.analyze(img).faces
            if len(faces):
                items.append((img, faces[:1]))
    stages = {"blendshapes": BlendshapeAUEstimator(), "image-heads": ImageHeadAUEstimator(args.model, threads=1)}
    for name, stage in stages.items():
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
