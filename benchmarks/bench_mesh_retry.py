"""The lfw-expressions photos in which the default analyzer finds no face: would the mesh accept them
with another box (the whole photo, its central 80 % or 65 %, 130 % of it) or mirrored? An experiment
for issue 25's "faces found on lfw ≥ 99.5 %" (docs/results.md); nothing in ferx uses these retries.

    python benchmarks/bench_mesh_retry.py
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "lfw-expressions"
KEYPOINTS = np.array([[0.32, 0.39], [0.68, 0.39], [0.5, 0.58], [0.36, 0.76], [0.64, 0.76]], np.float32)


def main() -> None:
    from ferx import Analyzer
    from ferx.io import load_image
    from ferx.types import Faces

    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    with Analyzer(aus=None, expression=None, explain=None) as analyzer:
        missed = [r["image"] for r in rows if not len(analyzer.analyze(load_image(LFW / "images" / r["image"])).faces)]
        print(f"no face found in {len(missed)} of {len(rows)} photos")
        mesh = dict(analyzer._stages)["landmarks"]
        accepted: dict[tuple[str, bool], list[bool]] = {}
        for name in missed:
            image = load_image(LFW / "images" / name)
            h, w = image.shape[:2]
            boxes = {"whole": (0, 0, w, h), "central 80 %": (0.1 * w, 0.1 * h, 0.9 * w, 0.9 * h),
                     "central 65 %": (0.175 * w, 0.175 * h, 0.825 * w, 0.825 * h),
                     "130 %": (-0.15 * w, -0.15 * h, 1.15 * w, 1.15 * h)}
            for key, (x0, y0, x1, y1) in boxes.items():
                for mirrored in (False, True):
                    im = image[:, ::-1].copy() if mirrored else image
                    kp = KEYPOINTS * [x1 - x0, y1 - y0] + [x0, y0]
                    face = Faces(np.array([[x0, y0, x1, y1]], np.float32), np.zeros(1, np.float32), kp[None].astype(np.float32))
                    accepted.setdefault((key, mirrored), []).append(bool(mesh.process(im, face, []).has_landmarks.all()))
    for (key, mirrored), ok in accepted.items():
        print(f"{key}{', mirrored' if mirrored else ''}: {sum(ok)} accepted")
    print(f"accepted by any: {int(np.any(np.array(list(accepted.values())), axis=0).sum())} of {len(missed)}")


def _args() -> None:
    """No options: `--help` says what the script does instead of starting it."""
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()


if __name__ == "__main__":
    _args()
    main()
