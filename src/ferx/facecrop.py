"""The aligned face crop that ferx's classifiers see, matched to how FER+ frames its faces.

FER+ crops are 48×48 grey faces. Measured on 6,000 FER+ training crops with the face mesh: the
outer eye corners (mesh 33 and 263) sit at (11.4, 18.7) and (36.7, 18.4) (medians), so a face is
mapped by the similarity transform (rotation, uniform scale, shift) that puts its outer eye corners
on TEMPLATE. Large faces are first shrunk with an antialiasing filter so that the final warp samples
at roughly 1:1.
"""

from __future__ import annotations

import math

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
    if scale < 0.5:  # shrink first (antialiased) so the warp does not alias
        factor = scale * 1.5
        w, h = max(1, round(grey.width * factor)), max(1, round(grey.height * factor))
        grey = grey.resize((w, h), Image.BOX if factor < 0.5 else Image.BILINEAR)
        scale, tx, ty = scale / factor, tx, ty
    # inverse map for PIL: image point = R(-angle)/scale · (crop point − t)
    c, s = math.cos(-angle) / scale, math.sin(-angle) / scale
    coeffs = (c, -s, -(c * tx - s * ty), s, c, -(s * tx + c * ty))
    out = grey.transform((size, size), Image.AFFINE, coeffs, Image.BILINEAR)
    return np.asarray(out, np.uint8)
