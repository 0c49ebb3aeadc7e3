"""Tight crops read again with a tighter box (criterion.md): lfw photos with a face, nested duplicates,
and false faces on face-free small crops, before (`CROP_RETRY_SHARES = (1.0,)`) and after, in one run.

    python docs/runs/crop-retry-2026-12-07/probe.py
"""
import csv
import statistics
import time
from pathlib import Path

import numpy as np

import ferx.pipeline as pipeline
from ferx import Analyzer
from ferx.io import load_image
from ferx.train.verify.data import PHOTOS, skimage_photo
from ferx.train.verify.scenes import TEST_PHOTOS

LFW = Path(__file__).resolve().parents[4] / "shared" / "data" / "lfw-expressions"


def free_crops(n: int = 400, seed: int = 7) -> list[np.ndarray]:
    names = sorted({*TEST_PHOTOS, *(x for v in PHOTOS.values() for x in v)})
    photos = [skimage_photo(x) for x in names]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = photos[int(rng.integers(len(photos)))]
        h, w = im.shape[:2]
        side = int(rng.integers(48, min(400, h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        out.append(np.ascontiguousarray(im[y:y + side, x:x + side]))
    return out


def nested(boxes: np.ndarray) -> int:
    n = 0
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes):
            if i != j:
                ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
                if (a[2] - a[0]) * (a[3] - a[1]) <= (b[2] - b[0]) * (b[3] - b[1]) and ix > 0.6 * (a[2] - a[0]) * (a[3] - a[1]):
                    n += 1
    return n


def run(shares: tuple[float, ...], rows: list[dict], crops: list[np.ndarray]) -> None:
    pipeline.CROP_RETRY_SHARES = shares
    with Analyzer() as a:
        found = dup = 0
        for r in rows:
            f = a.analyze(load_image(LFW / "images" / r["image"])).faces
            found += len(f) > 0
            dup += nested(f.boxes) if len(f) > 1 else 0
        false, times = 0, []
        for im in crops:
            t = time.perf_counter()
            false += len(a.analyze(im).faces)
            times.append((time.perf_counter() - t) * 1e3)
    print(f"shares {shares}: lfw photos with a face {found} of {len(rows)} ({100 * found / len(rows):.2f} %), nested "
          f"duplicates {dup}; face-free crops: {false} false faces in {len(crops)}, median {statistics.median(times):.1f} ms")


if __name__ == "__main__":
    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    crops = free_crops()
    for shares in ((1.0,), (1.0, 0.8, 0.65)):
        run(shares, rows, crops)
