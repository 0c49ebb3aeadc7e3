"""A generated split stored once, so that epochs only read: `images.npy` ((N, S, S) uint8) and
`manifest.json` (config, seed, per face: image index, box, label, source dataset, file, identity)
under `MosaicConfig.folder()`, a folder named by the config's hash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ferx.train.onepass.data.boxes import load_box_cache
from ferx.train.onepass.data.mosaics import MosaicConfig, MosaicSplit, generate_split


def load_split(cfg: MosaicConfig, split: str, progress: bool = True) -> MosaicSplit:
    """The split's mosaics from the cache, generated (and stored) first when missing.

    Always what is stored (boxes rounded to 0.01 px in the manifest), so the run that generates a
    split trains on the same data as every later run and resume."""
    folder = cfg.folder() / split
    if not (folder / "manifest.json").is_file():
        write_split(folder, generate_split(cfg, split, load_box_cache(cfg.box_cache), progress))
    return read_split(folder)


def write_split(folder: Path, ms: MosaicSplit) -> None:
    """Store a split; the manifest is written last, so a folder with a manifest is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", ms.images)
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(ms.manifest))
    tmp.replace(folder / "manifest.json")


def read_split(folder: Path) -> MosaicSplit:
    """A stored split; the images are memory-mapped, so an epoch reads only what it uses."""
    manifest = json.loads((folder / "manifest.json").read_text())
    images = np.load(folder / "images.npy", mmap_mode="r")
    boxes: list[list[list[float]]] = [[] for _ in range(len(images))]
    labels: list[list[int]] = [[] for _ in range(len(images))]
    for row in manifest["faces"]:
        boxes[row[0]].append(row[1:5])
        labels[row[0]].append(row[5])
    return MosaicSplit(images, [np.array(b, np.float32).reshape(-1, 4) for b in boxes],
                       [np.array(lab, np.int64) for lab in labels], manifest)
