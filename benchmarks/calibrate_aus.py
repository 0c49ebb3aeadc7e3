"""Calibration evidence for the AU table (ferx.facs.AU_TABLE rest/full values).

Runs the pipeline on every lfw-expressions photo, caches blendshapes + the lips-apart geometry per
image, and prints, for each AU source, percentiles on neutral faces and on the expressions whose
prototype uses that AU. `rest` should sit near the 90th percentile on neutral faces (a neutral face
reads as absent) and `full` near the 95th percentile on the expressive ones.

    python benchmarks/calibrate_aus.py [--data ../shared/data/lfw-expressions] [--cache runs/lfw_blendshapes.npz]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from ferx import Analyzer
from ferx.facs import AU_TABLE, EMOTION_PROTOTYPES, lips_apart, source_values

ROOT = Path(__file__).resolve().parents[1]


def extract(data: Path, cache: Path) -> dict[str, np.ndarray]:
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return {k: z[k] for k in z.files}
    rows = list(csv.DictReader(open(data / "labels.csv")))
    names, labels, blends, lips, meshes = [], [], [], [], []
    t0 = time.time()
    with Analyzer(aus=None, expression=None, explain=None) as analyzer:
        for i, row in enumerate(rows):
            r = analyzer.analyze(data / "images" / row["image"])
            if len(r.faces) == 0:
                continue
            areas = (r.faces.boxes[:, 2] - r.faces.boxes[:, 0]) * (r.faces.boxes[:, 3] - r.faces.boxes[:, 1])
            k = int(np.argmax(areas))  # the photo's subject is its largest face
            names.append(row["image"])
            labels.append(row["emotion"])
            blends.append(r.faces.blendshapes[k])
            lips.append(lips_apart(r.faces.landmarks[k : k + 1])[0])
            meshes.append(r.faces.landmarks[k])
            if i % 200 == 0:
                print(f"{i}/{len(rows)} images, {time.time() - t0:.0f} s", file=sys.stderr)
    out = {
        "image": np.array(names),
        "label": np.array(labels),
        "blendshapes": np.array(blends, np.float32),
        "lips_apart": np.array(lips, np.float32),
        "landmarks": np.array(meshes, np.float32),
        "n_images": np.array(len(rows)),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lfw-expressions")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "lfw_blendshapes.npz")
    args = ap.parse_args()
    d = extract(args.data, args.cache)
    labels = d["label"]
    print(f"faces found in {len(labels)} of {int(d['n_images'])} images")
    print(f"{'AU':>5} {'source':<22} {'rest':>5} {'full':>5} | neutral p50 p90 | expressive p50 p95 (labels)")
    print("(a left/right geometry source prints one row per side)")
    for au in AU_TABLE:
        sides = source_values(au, d["blendshapes"], d["landmarks"])
        for src, v in zip(au.sources * sides.shape[1], sides.T):
            neutral = v[labels == "neutral"]
            users = [e for e, p in EMOTION_PROTOTYPES.items() if au.number in p.supports]
            expressive = v[np.isin(labels, users)] if users else v[labels != "neutral"]
            print(
                f"{au.code:>5} {src:<22} {au.rest:5.2f} {au.full:5.2f} | "
                f"{np.percentile(neutral, 50):6.3f} {np.percentile(neutral, 90):6.3f} | "
                f"{np.percentile(expressive, 50):6.3f} {np.percentile(expressive, 95):6.3f} ({','.join(users) or 'all'})"
            )


if __name__ == "__main__":
    main()
