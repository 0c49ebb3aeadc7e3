"""Box arithmetic shared by detection code, evaluation and data composition (numpy only)."""

from __future__ import annotations

import numpy as np


def _intersection(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, M) intersection areas of xyxy boxes a (N, 4) and b (M, 4), and their areas (N,), (M,)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    return ix * iy, (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU between xyxy boxes a (N, 4) and b (M, 4), in float64."""
    inter, area_a, area_b = _intersection(a, b)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        iou = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def inside_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) share of each box of a (N, 4) that lies inside each box of b (M, 4), in float64."""
    inter, area_a, _ = _intersection(a, b)
    return inter / np.maximum(area_a[:, None], 1e-9)


def _inside_larger_of(boxes: np.ndarray, share: float, container: np.ndarray) -> np.ndarray:
    """(N,) True for boxes lying more than `share` of their area inside a larger box j that
    `container` allows: (N,) per box j, or (N, N) per pair [i, j]."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = inside_share(boxes, boxes) > share  # [i, j]: box i mostly inside box j
    larger = area[None, :] > area[:, None]
    return (inside & larger & container).any(axis=1)


def inside_larger(boxes: np.ndarray, containers: np.ndarray, share: float) -> np.ndarray:
    """(N,) True for boxes lying more than `share` of their area inside a larger box among those
    marked by `containers` (N,) bool. Faces do not nest: such a box is part of the larger face."""
    return _inside_larger_of(np.asarray(boxes, np.float64).reshape(-1, 4), share, np.asarray(containers, bool)[None, :])


def nested_in_surer(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """(M,) True for boxes that lie mostly (> threshold of their area) inside a larger, surer box.

    Faces do not nest, but a detector can fire on part of a large face (a fine pyramid level on an
    eye and the nose, say) that IoU-based NMS cannot merge because the boxes differ so much in size. The
    container must score at least as high: a coarse level's weak box spanning two real faces must
    not suppress them (the landmarker rejects such boxes later).
    """
    return _inside_larger_of(boxes, threshold, scores[None, :] >= scores[:, None])
