"""Pictures of one face for people: its aligned crop, the classifier's activation map and the
AU-region map of the classifier's label, all in the same frame so that they can sit side by side.

Shared by the HTML report and the web service (numpy/Pillow only: the service returns these as PNG
data URLs without importing matplotlib).

The crop is the one the classifier sees (`ferx.facecrop`: outer eye corners on the FER+ template),
only larger and in colour, so the classifier's (h, w) activation map — which lives in that crop's
frame — lines up with it after a plain resize. The AU-region map is `ferx.heatmaps.
expression_heatmap` drawn with the face's landmarks mapped into the same crop.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ferx.facecrop import aligned_crop, crop_transform
from ferx.heatmaps import expression_heatmap
from ferx.types import Faces

#: Side of the face crops shown in reports and on the web page.
VIEW_SIZE = 160

# A perceptually ordered dark-to-bright ramp (inferno's key colours), so that "more" reads as
# "brighter" also in greyscale print and for colour-blind readers.
_RAMP = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
     [252, 255, 164]],
    np.float32,
)


@dataclass(frozen=True)
class FaceViews:
    """Three (S, S) RGB pictures of one face in the classifier's crop frame.

    Attributes:
        crop: the aligned face.
        activation: the crop with the classifier's activation map of its label blended in, or None
            when the result has no maps for this face.
        au_regions: the crop with the AU regions of `label` blended in, or None (neutral has no AU
            regions; no landmarks).
        label: the label both maps are for (the classifier's top label), or None.
    """

    crop: Image.Image
    activation: Image.Image | None
    au_regions: Image.Image | None
    label: str | None


def colourise(heat: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] → (H, W, 3) float32 RGB from the ramp."""
    x = np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_RAMP) - 2)
    t = (x - lo)[..., None]
    return _RAMP[lo] * (1 - t) + _RAMP[lo + 1] * t


def blend(crop: np.ndarray, heat: np.ndarray, strength: float = 0.6) -> Image.Image:
    """The crop with `heat` (same H, W, [0, 1]) laid over it; weak values leave the face visible."""
    alpha = (strength * np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0))[..., None]
    out = crop.astype(np.float32) * (1 - alpha) + colourise(heat) * alpha
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def face_views(image: np.ndarray, faces: Faces, i: int, size: int = VIEW_SIZE) -> FaceViews | None:
    """The views of face `i` of `faces` found in `image` ((H, W, 3) uint8 RGB), or None when the
    face has no landmarks (nothing to align on)."""
    if faces.landmarks is None or not faces.has_landmarks[i]:
        return None
    landmarks = faces.landmarks[i]
    crop = aligned_crop(Image.fromarray(image), landmarks, size)
    label = faces.labels[i]
    activation = None
    if faces.expression_maps is not None and np.isfinite(faces.expression_maps[i]).all():
        cam = Image.fromarray(faces.expression_maps[i].astype(np.float32), mode="F")
        heat = np.asarray(cam.resize((size, size), Image.BILINEAR), np.float32)
        activation = blend(crop, heat)
    au_regions = None
    if label is not None:
        scale, angle, tx, ty = crop_transform(landmarks, size)
        c, s = math.cos(angle) * scale, math.sin(angle) * scale
        pts = landmarks[:, :2].astype(np.float64)
        in_crop = np.stack([c * pts[:, 0] - s * pts[:, 1] + tx, s * pts[:, 0] + c * pts[:, 1] + ty], axis=1)
        heat = expression_heatmap(in_crop.astype(np.float32), label, (size, size))
        if heat is not None:
            au_regions = blend(crop, heat)
    return FaceViews(Image.fromarray(crop), activation, au_regions, label)


def data_url(image: Image.Image, format: str = "PNG", **params: object) -> str:
    """`image` encoded as a data: URL (PNG, or JPEG with e.g. quality=85)."""
    buf = io.BytesIO()
    image.save(buf, format=format, **params)
    mime = "image/jpeg" if format.upper() == "JPEG" else f"image/{format.lower()}"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def fit_within(image: Image.Image, max_side: int) -> Image.Image:
    """`image` shrunk (never enlarged) so that its longer side is at most `max_side`."""
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


__all__ = ["VIEW_SIZE", "FaceViews", "blend", "colourise", "data_url", "face_views", "fit_within"]
