"""The aligned face crop that ferx's classifiers see, matched to how FER+ frames its faces, and the
per-frame cache that makes it once per face per frame.

FER+ crops are 48×48 grey faces. Measured on 6,000 FER+ training crops with the face mesh: the
outer eye corners (mesh 33 and 263) sit at (11.4, 18.7) and (36.7, 18.4) (medians), so a face is
mapped by the similarity transform (rotation, uniform scale, shift) that puts its outer eye corners
on TEMPLATE. Large faces are first shrunk with an antialiasing filter so that the final warp samples
at roughly 1:1.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from PIL import Image

SIZE = 48
#: Where mesh points 33 and 263 (the outer eye corners) go in the 48×48 crop.
TEMPLATE = np.array([[11.5, 18.6], [36.5, 18.6]], np.float32)
_EYE_OUTER = (33, 263)


def crop_transform(landmarks: np.ndarray, size: int = SIZE) -> tuple[float, float, float, float]:
    """(scale, angle, tx, ty) of the similarity mapping image points p to crop points
    scale · R(angle) · p + t, taking the mesh's outer eye corners onto TEMPLATE (scaled to `size`)."""
    src = landmarks[list(_EYE_OUTER), :2].astype(np.float64)
    dst = TEMPLATE.astype(np.float64) * (size / SIZE)
    vs, vd = src[1] - src[0], dst[1] - dst[0]
    scale = float(np.hypot(*vd) / max(np.hypot(*vs), 1e-6))
    angle = math.atan2(vd[1], vd[0]) - math.atan2(vs[1], vs[0])
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    tx = dst[0, 0] - (c * src[0, 0] - s * src[0, 1])
    ty = dst[0, 1] - (s * src[0, 0] + c * src[0, 1])
    return scale, angle, float(tx), float(ty)


def aligned_crop(grey: Image.Image, landmarks: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(size, size) uint8 crop of a grey PIL image for one face's (478, 3) landmarks."""
    scale, angle, tx, ty = crop_transform(landmarks, size)
    # inverse map, crop point → image point: p = A · q + b (continuous pixel coordinates)
    a = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]]) / scale
    b = -a @ np.array([tx, ty])
    # Work on the part of the image the crop covers: shrinking a whole 1080p frame per face would
    # cost more than the network. Points outside the image read as black.
    corners = a @ np.array([[0, size, 0, size], [0, 0, size, size]], np.float64) + b[:, None]
    x0, y0 = max(0, math.floor(corners[0].min()) - 2), max(0, math.floor(corners[1].min()) - 2)
    x1 = max(x0 + 1, min(grey.width, math.ceil(corners[0].max()) + 2))
    y1 = max(y0 + 1, min(grey.height, math.ceil(corners[1].max()) + 2))
    region = grey.crop((x0, y0, x1, y1))
    b = b - (x0, y0)
    if scale < 0.5:  # shrink first (antialiased) so the warp samples at about 1:1 and does not alias
        factor = scale * 1.5
        w, h = max(1, round(region.width * factor)), max(1, round(region.height * factor))
        region = region.resize((w, h), Image.BOX if factor < 0.5 else Image.BILINEAR)
        f = np.array([w / (x1 - x0), h / (y1 - y0)])  # exact per-axis factors after rounding
        a, b = a * f[:, None], b * f
    coeffs = (a[0, 0], a[0, 1], b[0], a[1, 0], a[1, 1], b[1])
    out = region.transform((size, size), Image.AFFINE, coeffs, Image.BILINEAR)
    return np.asarray(out, np.uint8)


class FrameCrops:
    """One frame's grey image and the aligned crops made from it, each made once and shared by every
    stage that needs them while the frame is analysed (`frame_crops`). A crop depends only on the
    outer eye corners of the mesh, so it is keyed by them (and its size): the same mesh gets the
    same crop, bit for bit."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self._rgb: Image.Image | None = None
        self._grey: Image.Image | None = None
        self._crops: dict[tuple[int, bytes], np.ndarray] = {}

    def rgb(self) -> Image.Image:
        """The frame as a PIL image, made once (a copy of a 12-Mpx photo costs tens of ms)."""
        if self._rgb is None:
            self._rgb = Image.fromarray(self.image)
        return self._rgb

    def grey(self) -> Image.Image:
        if self._grey is None:
            self._grey = self.rgb().convert("L")
        return self._grey

    def crop(self, landmarks: np.ndarray, size: int = SIZE) -> np.ndarray:
        key = (size, np.ascontiguousarray(landmarks[list(_EYE_OUTER), :2], np.float64).tobytes())
        crop = self._crops.get(key)
        if crop is None:
            crop = self._crops[key] = aligned_crop(self.grey(), landmarks, size)
        return crop


_FRAME: ContextVar[FrameCrops | None] = ContextVar("ferx_frame_crops", default=None)


@contextmanager
def frame_crops(image: np.ndarray) -> Iterator[FrameCrops]:
    """Within the block, `aligned_crops` of `image` are made once per face and shared. The pipeline
    opens one around every analysis; a caller that runs several analyses on one frame (the video
    tracker) opens one around them all, and the pipeline's then reuses it. The cache belongs to the
    calling thread (a context variable), so threads sharing an Analyzer never see each other's."""
    current = _FRAME.get()
    if current is not None and current.image is image:
        yield current
        return
    token = _FRAME.set(FrameCrops(image))
    try:
        yield _FRAME.get()  # type: ignore[misc]
    finally:
        _FRAME.reset(token)


def frame_image(image: np.ndarray) -> Image.Image:
    """`image` as a PIL image: the current `frame_crops` block's copy when it is this image's (the
    detector and the landmarker resample the same frame), else made here."""
    cache = _FRAME.get()
    return cache.rgb() if cache is not None and cache.image is image else Image.fromarray(image)


def aligned_crops(image: np.ndarray, landmarks: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, size, size) uint8 aligned grey crops of the (H, W, 3) RGB `image` for (N, 478, 3) landmarks:
    the crops of the current `frame_crops` block when it is this image's, else made here."""
    cache = _FRAME.get()
    if cache is None or cache.image is not image:
        cache = FrameCrops(image)
    if not len(landmarks):
        return np.zeros((0, size, size), np.uint8)
    return np.stack([cache.crop(lm, size) for lm in landmarks])
