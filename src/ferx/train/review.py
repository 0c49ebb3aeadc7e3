"""Render dataset faces with their AU heatmaps in a grid, for a person to check the supervision.

    python -m ferx.train.review ferplus:../shared/data/ferplus --split test --per-label 6 --out heatmaps.png

Faces are taken in dataset order, `per-label` of each label; a title marks crops in which the mesh
model found no face (those get no heatmap and no alignment loss in training).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from ferx.data.landmark_cache import LandmarkCache
from ferx.data.readers import open_dataset
from ferx.heatmaps import expression_heatmap, heatmap_grid


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ferx.train.review")
    ap.add_argument("data", help="dataset spec, e.g. ferplus:../shared/data/ferplus")
    ap.add_argument("--split", default="test")
    ap.add_argument("--per-label", type=int, default=6)
    ap.add_argument("--cache-dir", default="runs/cache/landmarks")
    ap.add_argument("--out", type=Path, default=Path("heatmaps.png"))
    args = ap.parse_args(argv)
    ds = open_dataset(args.data, args.split)
    picks = []
    for label in ds.label_set:
        picks += [s for s in ds.samples if s.label == label][: args.per_label]
    landmarks, found = LandmarkCache(Path(args.cache_dir)).get([s.path for s in picks])
    images, maps, titles = [], [], []
    for s, lm, ok in zip(picks, landmarks, found):
        img = np.asarray(Image.open(s.path).convert("RGB"))
        images.append(img)
        maps.append(expression_heatmap(lm, s.label, img.shape[:2]) if ok else None)
        titles.append(s.label if ok else f"{s.label} (no mesh)")
    heatmap_grid(images, maps, titles, columns=args.per_label).save(args.out)
    print(f"wrote {args.out}: {len(picks)} faces, {int((~found).sum())} without landmarks")


if __name__ == "__main__":
    main()
