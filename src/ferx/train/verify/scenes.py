"""Photos with known faces, and photos with none, at phone-photo sizes: what the detection benchmark
(benchmarks/bench_faces.py) and the tests measure precision and recall on (no torch).

Per split: lfw-expressions faces of that split's identities pasted on that split's face-free photos
(`ferx.train.verify.data.PHOTOS`; "test" uses the photos of the issue's false faces, the cat and the
coffee cup, which no training or choice saw), composed at 640×480 and enlarged to 1280×960, 2016×1512
and 4032×3024 ("upscaled", as a user's resized photo), or composed at 12 Mpx ("native"); and views of
the face-free photos at the same sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ferx.data.mosaic import compose
from ferx.train.verify.data import PHOTOS, photo_view, skimage_photo

#: Photo sizes (width, height): VGA to a 12-Mpx phone photo.
SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 960), (2016, 1512), (4032, 3024))
#: Face-free photos of the test split: those of the issue's false faces.
TEST_PHOTOS = ("chelsea", "coffee")


@dataclass(frozen=True)
class Case:
    """An image, its true face boxes (K, 4) and what it is (kind: scene, upscaled, native, face-free)."""

    name: str
    image: np.ndarray
    boxes: np.ndarray
    kind: str


def split_photos(split: str) -> list[np.ndarray]:
    return [skimage_photo(n) for n in (TEST_PHOTOS if split == "test" else PHOTOS[split])]


def enlarge(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def scene(refs: list[tuple[np.ndarray, np.ndarray]], photos: list[np.ndarray], size: tuple[int, int], faces: int,
          widths: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`faces` lfw faces of `widths` px pasted on a view of a face-free photo filling `size`."""
    base = photo_view(photos[int(rng.integers(len(photos)))], rng, max(size))
    base = np.asarray(Image.fromarray(base).resize(size, Image.BICUBIC))
    sel = rng.choice(len(refs), faces, replace=False)
    sizes = [int(w) for w in rng.integers(widths[0], widths[1] + 1, faces)]
    m = compose([refs[j][0] for j in sel], [refs[j][1] for j in sel], sizes, size, rng, base=Image.fromarray(base),
                skip_unplaceable=True, feather=0.05)
    return m.image, m.boxes


def cases(refs: list[tuple[np.ndarray, np.ndarray]], split: str, n_scenes: int, n_free: int, n_native: int,
          seed: int = 0) -> list[Case]:
    """The split's cases: scenes at 640×480 and enlarged, native 12-Mpx scenes, face-free views."""
    rng = np.random.default_rng([seed, ("val", "test").index(split)])
    photos = split_photos(split)
    out = []
    for i in range(n_scenes):
        image, boxes = scene(refs, photos, SIZES[0], int(rng.integers(2, 7)), (32, 120), rng)
        for w, h in SIZES:
            k = w / SIZES[0][0]
            out.append(Case(f"scene{i}@{w}x{h}", enlarge(image, (w, h)) if k != 1 else image, boxes * k,
                            "scene" if k == 1 else "upscaled"))
    for i in range(n_native):
        image, boxes = scene(refs, photos, SIZES[-1], int(rng.integers(2, 7)), (150, 700), rng)
        out.append(Case(f"native{i}@{SIZES[-1][0]}x{SIZES[-1][1]}", image, boxes, "native"))
    for i in range(n_free):
        image = photo_view(photos[i % len(photos)], rng, SIZES[0][0])
        for w, h in SIZES:
            out.append(Case(f"free{i}@{w}x{h}", enlarge(image, (w, round(w * image.shape[0] / image.shape[1]))),
                            np.zeros((0, 4), np.float32), "face-free"))
    return out
