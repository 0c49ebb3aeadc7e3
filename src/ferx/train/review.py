"""Render dataset faces with their AU heatmaps in a grid, for a person to check the supervision.

    ferx heatmaps ferplus:PATH/TO/ferplus --split test --per-label 6 --out heatmaps.png

Faces are taken in dataset order, `per_label` of each label; a title marks crops in which the mesh
model found no face (those get no heatmap and no alignment loss in training). No torch needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ferx.data.landmark_cache import LandmarkCache
from ferx.data.readers import open_dataset
from ferx.heatmaps import expression_heatmap, heatmap_grid


def review(data: str, split: str, per_label: int, cache_dir: Path, out: Path) -> str:
    """Write the grid to `out`; returns a one-line summary."""
    ds = open_dataset(data, split)
    picks = []
    for label in ds.label_set:
        picks += [s for s in ds.samples if s.label == label][:per_label]
    landmarks, found = LandmarkCache(Path(cache_dir)).get([s.path for s in picks])
    images, maps, titles = [], [], []
    for s, lm, ok in zip(picks, landmarks, found):
        img = np.asarray(Image.open(s.path).convert("RGB"))
        images.append(img)
        maps.append(expression_heatmap(lm, s.label, img.shape[:2]) if ok else None)
        titles.append(s.label if ok else f"{s.label} (no mesh)")
    heatmap_grid(images, maps, titles, columns=per_label).save(out)
    return f"wrote {out}: {len(picks)} faces, {int((~found).sum())} without landmarks"
