"""Turning the one-pass detector's raw maps into boxes: grid/stride decoding, NMS, letterboxing.

numpy only, so that the onnxruntime path needs no torch. The training loss uses `level_strides` and
`grid_points` from here too, so boxes are encoded and decoded with the same stride bookkeeping.

Raw output of one level: (B, 5 + C, h, w) — dx, dy, log w, log h, objectness logit, C class logits.
For the cell at column gx, row gy of a level with stride s (s = input side / map side):
    centre = ((dx + gx)·s, (dy + gy)·s),  size = (exp(log w)·s, exp(log h)·s)      (YOLOX)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ferx.boxes import nms
from ferx.numeric import sigmoid


#: log-size predictions are clipped here before exp (exp(8)·32 px is far beyond any image).
MAX_LOG_SIZE = 8.0
PAD_VALUE = 114


def level_strides(input_hw: tuple[int, int], map_hws: list[tuple[int, int]]) -> list[int]:
    """Each level's stride from the input and feature-map shapes; mismatches raise ValueError."""
    h, w = input_hw
    out = []
    for mh, mw in map_hws:
        s = h // mh
        if mh * s != h or mw * s != w or w // mw != s:
            raise ValueError(f"a {mh}×{mw} feature map does not tile a {h}×{w} input with one integer stride")
        out.append(s)
    return out


def grid_points(input_hw: tuple[int, int], map_hws: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) cell indices (gx, gy) and (A,) strides of all levels, in the flattened output order
    (level by level, row-major within a level)."""
    strides = level_strides(input_hw, map_hws)
    cells, stride_rows = [], []
    for (mh, mw), s in zip(map_hws, strides):
        gy, gx = np.meshgrid(np.arange(mh), np.arange(mw), indexing="ij")
        cells.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        stride_rows.append(np.full(mh * mw, s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(stride_rows).astype(np.float32)


def flatten_maps(maps: list[np.ndarray]) -> np.ndarray:
    """List of (B, 5 + C, h, w) → (B, A, 5 + C)."""
    return np.concatenate([m.reshape(m.shape[0], m.shape[1], -1).transpose(0, 2, 1) for m in maps], axis=1)


def decode(maps: list[np.ndarray], input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode raw maps.

    Returns:
        boxes (B, A, 4) xyxy in input pixels, face scores (B, A) = sigmoid(objectness),
        class probabilities (B, A, C) = sigmoid(class logits) (independent, as trained).
    """
    raw = flatten_maps(maps).astype(np.float32)
    cells, strides = grid_points(input_hw, [m.shape[2:] for m in maps])
    centre = (raw[..., 0:2] + cells) * strides[:, None]
    size = np.exp(np.minimum(raw[..., 2:4], MAX_LOG_SIZE)) * strides[:, None]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=-1)
    return boxes, sigmoid(raw[..., 4]), sigmoid(raw[..., 5:])


def postprocess(
    maps: list[np.ndarray], input_hw: tuple[int, int], conf: float = 0.5, nms_iou: float = 0.3, max_det: int = 300,
    content_hw: tuple[int, int] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: boxes (K, 4), face scores (K,), class probabilities (K, C) after thresholding the
    face score at `conf` and class-agnostic NMS at `nms_iou` (one box per face).

    Boxes are clipped to the image content (`content_hw`, top-left; default the whole input) before
    NMS: a close-up face yields boxes reaching past the frame that overlap little until clipped,
    and would otherwise survive NMS as duplicates of one face.
    """
    boxes, obj, cls = decode(maps, input_hw)
    ch, cw = content_hw or input_hw
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, cw)
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, ch)
    out = []
    for b in range(boxes.shape[0]):
        keep = np.flatnonzero(obj[b] >= conf)
        if len(keep) > 20 * max_det:  # bound NMS work when a model fires everywhere
            keep = keep[np.argsort(-obj[b, keep])[: 20 * max_det]]
        k = nms(boxes[b, keep], obj[b, keep], nms_iou)[:max_det]
        sel = keep[k]
        out.append((boxes[b, sel], obj[b, sel], cls[b, sel]))
    return out


def image_detections(maps: list[np.ndarray], size: int, scale: float, image_hw: tuple[int, int], conf: float,
                     nms_iou: float, max_det: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One letterboxed image's detections in image pixels: `postprocess` with the boxes clipped to the
    image's extent in the size×size input, scaled back by the letterbox `scale`, clipped to the image,
    degenerate boxes (≤ 1 px) dropped. Returns boxes (K, 4), face scores (K,), class scores (K, C)."""
    h, w = image_hw
    content = (min(size, round(h * scale)), min(size, round(w * scale)))
    boxes, scores, probs = postprocess(maps, (size, size), conf, nms_iou, max_det, content_hw=content)[0]
    boxes = boxes / scale
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    ok = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    return boxes[ok], scores[ok], probs[ok]


def letterbox_scale(image_hw: tuple[int, int], size: int, upscale: bool = True) -> float:
    """The scale `letterbox` puts an image of this size at (canvas pixels per image pixel)."""
    scale = min(size / image_hw[0], size / image_hw[1])
    return scale if upscale else min(scale, 1.0)


def letterbox(grey: np.ndarray, size: int, upscale: bool = True) -> tuple[np.ndarray, float]:
    """Scale a (H, W) uint8 image to fit a size×size canvas (top-left, padded with 114).

    upscale=False leaves images that already fit at their size (scale 1).
    Returns the canvas and the scale (canvas pixels per image pixel): image box = canvas box / scale.
    """
    h, w = grey.shape
    scale = letterbox_scale((h, w), size, upscale)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.full((size, size), PAD_VALUE, np.uint8)
    img = Image.fromarray(grey)
    if (nh, nw) != (h, w):
        img = img.resize((nw, nh), Image.BILINEAR)
    canvas[:nh, :nw] = np.asarray(img)
    return canvas, scale
