"""AU heatmaps: where on a face the AUs of an expression appear.

Belharbi et al., "Guided Interpretable Facial Expression Recognition via Spatial Action Unit Cues"
(FG 2024): each AU of the label's codebook (facs.HEATMAP_CODEBOOK) becomes filled ellipses centred
on its landmarks (facs.AU_TABLE[...].landmarks), lightly blurred (3×3), the AUs are combined by a
pixel-wise max, and the map is min–max normalised. Neutral has no AUs and so no map (None). The
heatmap supervises a classifier's attention and is the reference for the CAM-COS / ATT-COS metrics.

Ellipse size follows the face: the long axis is `AXIS_LONG` × the outer-eye-corner distance (the
short axis `AXIS_SHORT` ×), oriented with the eye line; mouth-box AUs (23–27) get one ellipse over
the whole mouth.
"""

from __future__ import annotations

import numpy as np

from ferx.facs import AU_BY_NUMBER, HEATMAP_CODEBOOK

AXIS_LONG = 0.22
AXIS_SHORT = 0.14
_MOUTH_BOX_AUS = {23, 24, 25, 26, 27}
_MOUTH_CORNERS, _MOUTH_MID = (61, 291), (13, 14)
_EYE_OUTER = (33, 263)


def _ellipse(shape: tuple[int, int], centre: np.ndarray, a: float, b: float, angle: float) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32) + 0.5
    dx, dy = xs - centre[0], ys - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    return ((u / a) ** 2 + (v / b) ** 2 <= 1.0).astype(np.float32)


def _blur3(m: np.ndarray) -> np.ndarray:
    p = np.pad(m, 1, mode="edge")
    return sum(p[i : i + m.shape[0], j : j + m.shape[1]] for i in range(3) for j in range(3)) / 9.0


def au_regions(landmarks: np.ndarray, aus: tuple[int, ...], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) max-combined, blurred AU regions for the given AU numbers (not normalised).

    Args:
        landmarks: (478, 2+) mesh points in the image's pixels.
        aus: AU numbers (27 is placed as the mouth box, like 26).
        shape: (H, W) of the image the landmarks refer to.
    """
    pts = np.asarray(landmarks, np.float32)[:, :2]
    eye = pts[_EYE_OUTER[1]] - pts[_EYE_OUTER[0]]
    scale = float(np.hypot(*eye))
    angle = float(np.arctan2(eye[1], eye[0]))
    out = np.zeros(shape, np.float32)
    for number in aus:
        if number in _MOUTH_BOX_AUS:
            width = float(np.hypot(*(pts[_MOUTH_CORNERS[1]] - pts[_MOUTH_CORNERS[0]])))
            centre = pts[list(_MOUTH_MID)].mean(0)
            blob = _ellipse(shape, centre, 0.6 * width, 0.35 * width + 0.05 * scale, angle)
        else:
            blob = np.zeros(shape, np.float32)
            for idx in AU_BY_NUMBER[number].landmarks:
                blob = np.maximum(blob, _ellipse(shape, pts[idx], AXIS_LONG * scale, AXIS_SHORT * scale, angle))
        out = np.maximum(out, _blur3(blob))
    return out


def expression_heatmap(landmarks: np.ndarray, label: str, shape: tuple[int, int]) -> np.ndarray | None:
    """(H, W) heatmap in [0, 1] for `label`, or None for neutral / landmarks missing / empty map."""
    aus = HEATMAP_CODEBOOK[label]
    if not aus or not np.isfinite(landmarks).all():
        return None
    m = au_regions(landmarks, aus, shape)
    lo, hi = float(m.min()), float(m.max())
    if hi - lo < 1e-6:
        return None
    return (m - lo) / (hi - lo)


def heatmap_grid(images: list[np.ndarray], heatmaps: list[np.ndarray | None], titles: list[str],
                 cell: int = 144, columns: int = 8):
    """A PIL image: each face with its heatmap blended in red, titled, for a person to check."""
    from PIL import Image, ImageDraw

    rows = -(-len(images) // columns)
    grid = Image.new("RGB", (columns * cell, rows * (cell + 14)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for k, (img, hm, title) in enumerate(zip(images, heatmaps, titles)):
        face = np.asarray(Image.fromarray(img).convert("RGB").resize((cell, cell), Image.BILINEAR), np.float32)
        if hm is not None:
            h = np.asarray(Image.fromarray((hm * 255).astype(np.uint8)).resize((cell, cell), Image.BILINEAR), np.float32) / 255
            face = face * (1 - 0.55 * h[..., None]) + np.array([255, 0, 0], np.float32) * 0.55 * h[..., None]
        x, y = (k % columns) * cell, (k // columns) * (cell + 14)
        grid.paste(Image.fromarray(face.clip(0, 255).astype(np.uint8)), (x, y + 14))
        draw.text((x + 2, y + 1), title, fill=(0, 0, 0))
    return grid
