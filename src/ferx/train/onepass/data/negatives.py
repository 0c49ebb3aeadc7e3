"""Face-free photographs for hard negatives: scikit-image's bundled photos, cut into regions."""

from __future__ import annotations

import numpy as np
from PIL import Image


def negative_pool(names: list[str]) -> list[np.ndarray]:
    """Grey face-free photographs for negatives: `skimage.data` images by name.

    scikit-image (a `train` dependency) ships these in its wheel — bricks, grass, gravel, coffee,
    coins, a cat, a rocket, a motorcycle, pages of text, cells, the Moon, Hubble's deep field —
    so nothing is downloaded. `astronaut` and `camera` show people and are refused: the astronaut
    is also ferx's bundled example, on which the detector's false positives are checked.
    """
    if not names:
        return []
    import skimage.data

    pool = []
    for name in names:
        if name in ("astronaut", "camera"):
            raise ValueError(f"negatives: skimage.data.{name} shows a person; it cannot be a face-free negative")
        fn = getattr(skimage.data, name, None)
        if fn is None:
            raise ValueError(f"negatives: skimage.data has no image {name!r}")
        img = fn()
        img = img[0] if isinstance(img, tuple) else img
        img = np.asarray(img)
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 3:
            img = np.asarray(Image.fromarray(img[..., :3].astype(np.uint8)).convert("L"))
        pool.append(np.ascontiguousarray(img.astype(np.uint8)))
    return pool


def negative_region(pool: list[np.ndarray], aspect: float, rng: np.random.Generator) -> np.ndarray:
    """A random crop (width/height ≈ aspect, 32 px to the whole image) of a random pool image,
    rotated by a random multiple of 90°."""
    img = np.rot90(pool[int(rng.integers(len(pool)))], int(rng.integers(4)))
    h, w = img.shape
    ch = float(np.exp(rng.uniform(np.log(32), np.log(h))))
    cw = ch * aspect
    if cw > w:
        cw, ch = float(w), w / aspect
    cx, cy = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    return np.ascontiguousarray(img[int(cy):int(cy + max(ch, 1)), int(cx):int(cx + max(cw, 1))])
