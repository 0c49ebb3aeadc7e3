"""Compose group images from single-face photos, with exact ground-truth boxes.

Used to measure detection recall on many small faces (tests, benchmarks) and, later, to build
training mosaics. Each photo comes with the box of its face (from a detector run on the photo at
full size, or from a dataset); the photo is cropped around that box with a margin, scaled so the
face box has the requested side, and pasted at a free spot of a textured background.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

from ferx.boxes import box_iou

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer



@dataclass(frozen=True)
class Mosaic:
    """A composed image and where its faces are.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) xyxy face boxes in image pixels.
        sources: index of the input photo each face came from.
    """

    image: np.ndarray
    boxes: np.ndarray
    sources: tuple[int, ...]


def single_faces(analyzer: Analyzer, paths: Iterable[str | os.PathLike[str]], limit: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB photo, face box) of the first `limit` photos in which `analyzer` finds exactly one face: the
    references a composition pastes, boxed as the pipeline boxes them."""
    from ferx.io import load_image

    refs = []
    for path in paths:
        image = load_image(path)
        faces = analyzer.analyze(image).faces
        if len(faces) == 1:
            refs.append((image, faces.boxes[0]))
        if len(refs) == limit:
            break
    return refs


def background(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A smooth random colour field with mild noise: no face-like structure, not flat either."""
    small = rng.integers(40, 215, size=(6, 8, 3)).astype(np.uint8)
    field = Image.fromarray(small).resize((width, height), Image.BICUBIC)
    noise = rng.normal(0, 6, size=(height, width, 3))
    arr = np.clip(np.asarray(field, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr).filter(ImageFilter.GaussianBlur(1))


def compose(
    photos: list[np.ndarray],
    face_boxes: list[np.ndarray],
    face_sizes: list[int],
    canvas: tuple[int, int],
    rng: np.random.Generator,
    margin: float = 1.4,
    max_tries: int = 200,
    *,
    feather: float = 0.0,
    base: Image.Image | None = None,
    skip_unplaceable: bool = False,
) -> Mosaic:
    """Paste photos[i] so that its face box is face_sizes[i] px wide, without overlaps.

    Args:
        photos: RGB arrays, one face each.
        face_boxes: (4,) xyxy face box in each photo.
        face_sizes: target face-box width in the mosaic, per photo.
        canvas: (width, height) of the mosaic.
        margin: crop side around the face as a multiple of the face box's longer side.
        feather: blend each pasted crop into the background over this fraction of its shorter
            side (a blurred-edge mask), so that no straight paste edge marks where a face is; the
            face box itself stays inside the fully opaque part when feather ≤ (margin − 1) / 4.
        base: background to paste on (an RGB PIL image of the canvas size); default `background()`.
        skip_unplaceable: leave out faces that find no free spot instead of raising; `sources`
            says which were placed.
    Raises:
        ValueError: when a face cannot be placed without overlapping the ones already placed.
    """
    width, height = canvas
    out = background(width, height, rng) if base is None else base.convert("RGB").copy()
    if out.size != (width, height):
        raise ValueError(f"base image is {out.size[0]}x{out.size[1]}, canvas is {width}x{height}")
    occupied: list[np.ndarray] = []
    boxes, sources = [], []
    for i, (photo, box, size) in enumerate(zip(photos, face_boxes, face_sizes)):
        box = np.asarray(box, np.float64)
        ph, pw = photo.shape[:2]
        side = max(box[2] - box[0], box[3] - box[1]) * margin
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        # the margin box, clipped to the photo so that only real pixels are pasted
        crop_box = (max(0.0, cx - side / 2), max(0.0, cy - side / 2), min(pw, cx + side / 2), min(ph, cy + side / 2))
        scale = size / (box[2] - box[0])
        out_w = max(1, int(round((crop_box[2] - crop_box[0]) * scale)))
        out_h = max(1, int(round((crop_box[3] - crop_box[1]) * scale)))
        crop = Image.fromarray(photo).transform((out_w, out_h), Image.EXTENT, crop_box, Image.BILINEAR)
        if out_w >= width or out_h >= height:
            if skip_unplaceable:
                continue
            raise ValueError(f"face {i}: crop of {out_w}x{out_h} px does not fit a {width}x{height} canvas")
        for _ in range(max_tries):
            x = int(rng.integers(0, width - out_w))
            y = int(rng.integers(0, height - out_h))
            region = np.array([x, y, x + out_w, y + out_h], np.float64)
            if all(not _overlap(region, o) for o in occupied):
                break
        else:
            if skip_unplaceable:
                continue
            raise ValueError(f"face {i}: no free spot left on the {width}x{height} canvas")
        out.paste(crop, (x, y), _feather_mask(out_w, out_h, feather) if feather > 0 else None)
        occupied.append(region)
        fb = (box - np.array([crop_box[0], crop_box[1]] * 2)) * np.array([out_w / (crop_box[2] - crop_box[0]), out_h / (crop_box[3] - crop_box[1])] * 2) + np.array([x, y, x, y])
        boxes.append(fb)
        sources.append(i)
    return Mosaic(np.asarray(out), np.array(boxes, np.float32).reshape(-1, 4), tuple(sources))


def _feather_mask(w: int, h: int, feather: float) -> Image.Image:
    """An L-mode mask, opaque inside and fading to 0 over `feather` of the shorter side at the edges."""
    f = feather * min(w, h)
    inset = int(round(f / 2))
    mask = Image.new("L", (w, h), 0)
    if w - 2 * inset > 0 and h - 2 * inset > 0:
        mask.paste(255, (inset, inset, w - inset, h - inset))
    return mask.filter(ImageFilter.GaussianBlur(max(f / 4, 0.1))) if f >= 1 else Image.new("L", (w, h), 255)


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def match(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching by IoU.

    Returns:
        (N,) index of the matched prediction per ground-truth box (-1 if none), and (N,) its IoU.
    """
    iou = box_iou(gt, pred)
    assigned = np.full(len(gt), -1)
    best = np.zeros(len(gt))
    if iou.size == 0:
        return assigned, best
    used: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        g, p = np.unravel_index(flat, iou.shape)
        if iou[g, p] < iou_threshold:
            break
        if assigned[g] >= 0 or p in used:
            continue
        assigned[g], best[g] = p, iou[g, p]
        used.add(int(p))
    return assigned, best
