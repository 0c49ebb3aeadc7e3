"""Does the tracker's identity cue keep its separation when it reads the classifier's 48-px aligned crop
(shared, one crop per face per frame) instead of its own 32-px crop? Appearance similarity of the same
person across different lfw-expressions photos (identities with 3+ photos) against different people,
for both crop sizes; the tracker's thresholds are 0.8 (re-identify anywhere) and 0.4 (re-identify near
the predicted box).

    python benchmarks/bench_reid_crop.py
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ferx import Analyzer, load_image
from ferx.facecrop import aligned_crops

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "lfw-expressions"


def unit(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    crop = aligned_crops(image, landmarks[None], size)[0].astype(np.float32)
    m = size // 8
    v = crop[m:-m, m:-m].ravel()
    v = v - v.mean()
    return v / max(float(np.linalg.norm(v)), 1e-6)


def main() -> None:
    by_id: dict[str, list[str]] = {}
    for row in csv.DictReader(open(LFW / "labels.csv")):
        by_id.setdefault(row["identity"], []).append(row["image"])
    ids = [k for k, v in by_id.items() if len(v) >= 3][:25]
    vectors: dict[int, dict[str, list[np.ndarray]]] = {32: {}, 48: {}}
    with Analyzer(aus=None, expression=None, explain=None) as analyzer:
        for identity in ids:
            for name in by_id[identity][:3]:
                image = load_image(LFW / "images" / name)
                faces = analyzer.analyze(image).faces
                if len(faces) == 1:
                    for size in vectors:
                        vectors[size].setdefault(identity, []).append(unit(image, faces.landmarks[0], size))
    print("| crop | same person: mean | p10 | ≥ 0.8 | other people: mean | p90 | max | ≥ 0.8 | ≥ 0.4 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, by in vectors.items():
        keys = sorted(by)
        same = np.array([float(v[a] @ v[b]) for k in keys for v in [by[k]] for a in range(len(v))
                         for b in range(a + 1, len(v))])
        other = np.array([float(by[i][0] @ by[j][0]) for i in keys for j in keys if j > i])
        print(f"| {size} px | {same.mean():.3f} | {np.percentile(same, 10):.3f} | {(same >= 0.8).mean():.2f} | "
              f"{other.mean():.3f} | {np.percentile(other, 90):.3f} | {other.max():.3f} | {(other >= 0.8).mean():.3f} | "
              f"{(other >= 0.4).mean():.3f} |")


def _args() -> None:
    """No options: `--help` says what the script does instead of starting it."""
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()


if __name__ == "__main__":
    _args()
    main()
