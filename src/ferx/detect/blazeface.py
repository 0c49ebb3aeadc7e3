"""BlazeFace run as a multi-scale, fully convolutional detector.

Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs" (2019). The
model is MediaPipe's short-range BlazeFace from the verified face-landmarker bundle (see
`ferx.assets`), run on LiteRT.

Why a pyramid: the short-range model was trained on 128×128 selfie-style inputs and finds faces of
about 24–120 px *in its input* (measured on lfw-expressions faces: 96 % at 24 px, 77 % at 20 px,
100 % from 32 px). Squeezing a group photo into 128 px makes every face too small. The network is
fully convolutional (its 896 anchors are a 16×16×2 grid at stride 8 plus 8×8×6 at stride 16), so it
runs unchanged on a whole upscaled image: one pass per pyramid level, no overlapping tiles, with
anchors laid on the level's grid. Levels run from "whole image in 128 px" (large faces) to the scale
where a `min_face`-pixel face becomes ~26 model pixels, a factor of ≤ 3 apart so each face falls in
the model's range at some level. Detections from all levels are merged by MediaPipe's weighted NMS.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ferx.assets import face_landmarker_member
from ferx.litert import LiteRTModel
from ferx.stages import DETECTORS, StageBase
from ferx.types import Faces

_TRAIN_SIZE = 128  # regression outputs are in units of the 128-px training input
_TARGET_MIN = 26.0  # model-space size a `min_face` face is scaled to (24 px is the reliable floor)
_STEP = 3.0  # max ratio between pyramid levels (the reliable range 30–120 px spans 4x)
_SNAP = 0.15  # a finest scale this close to 1 becomes exactly 1 (skips resampling the full image)


def _anchor_centres(height: int, width: int) -> np.ndarray:
    """(A, 2) anchor centres in level pixels, in the model's output order."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        gy, gx = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(gy), np.arange(gx), indexing="ij")
        c = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe-style blending NMS: each cluster of overlapping boxes becomes its score-weighted mean.

    Args:
        boxes: (M, 4) xyxy. scores: (M,). points: (M, P, 2) keypoints averaged like the boxes.
    Returns:
        boxes (K, 4), scores (K,) — the cluster's best score — and points (K, P, 2).
    """
    order = np.argsort(-scores)
    boxes, scores, points = boxes[order], scores[order], points[order]
    alive = np.ones(len(boxes), bool)
    out_b, out_s, out_p = [], [], []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        xx1 = np.maximum(boxes[i, 0], boxes[:, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[:, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[:, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        members = alive & (iou > iou_threshold)
        members[i] = True
        w = scores[members][:, None]
        out_b.append((boxes[members] * w).sum(0) / w.sum())
        out_p.append((points[members] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[i])
        alive &= ~members
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0,) + points.shape[1:], np.float32)
    return np.array(out_b, np.float32), np.array(out_s, np.float32), np.array(out_p, np.float32)


@DETECTORS.register("blazeface")
class BlazeFaceDetector(StageBase):
    """Multi-scale BlazeFace.

    Args:
        min_face: smallest face side, in image pixels, the pyramid is built to find. Smaller values
            add a finer (more expensive) level; cost grows with the square of 1 / min_face.
        score_threshold: minimum detection confidence.
        nms_iou: IoU above which detections are merged.
        max_level_pixels: cap on the pixels of the finest level (bounds time and memory on huge
            images; faces smaller than `min_face` may then be missed, and a note says so).
        threads: CPU threads for LiteRT.
    """

    def __init__(
        self,
        min_face: int = 24,
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        max_level_pixels: int = 8_000_000,
        threads: int = 2,
    ) -> None:
        if min_face < 8:
            raise ValueError(f"min_face must be at least 8 px, got {min_face}")
        self.min_face = int(min_face)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_level_pixels = int(max_level_pixels)
        self._model = LiteRTModel(face_landmarker_member("face_detector.tflite"), threads=threads)
        self._reg, self._cls = (self._model.output_names.index(n) for n in ("regressors", "classificators"))
        self._anchors: dict[tuple[int, int], np.ndarray] = {}
        self._buffers: dict[tuple[int, int], np.ndarray] = {}
        self.last_capped = False  # True when max_level_pixels limited the finest level

    def scales(self, width: int, height: int) -> list[float]:
        """Pyramid scale factors (level size / image size), coarse to fine."""
        coarse = _TRAIN_SIZE / max(width, height)
        fine = _TARGET_MIN / self.min_face
        cap = math.sqrt(self.max_level_pixels / (width * height))
        self.last_capped = fine > cap
        fine = min(fine, cap)
        if fine <= coarse:
            return [coarse]
        if abs(fine - 1.0) < _SNAP:
            fine = 1.0  # the image as it is: no resampling, and within the model's range anyway
        n = max(1, math.ceil(math.log(fine / coarse) / math.log(_STEP)))
        return [coarse * (fine / coarse) ** (i / n) for i in range(n + 1)]

    def _level(self, image: np.ndarray, pil: Image.Image, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if scale == 1.0:
            resized = image
        else:
            w, h = max(1, round(pil.width * scale)), max(1, round(pil.height * scale))
            resized = np.asarray(pil.resize((w, h), Image.BILINEAR))
        h, w = resized.shape[:2]
        ph, pw = max(_TRAIN_SIZE, -(-h // 16) * 16), max(_TRAIN_SIZE, -(-w // 16) * 16)
        key = (ph, pw)
        level = self._buffers.get(key)
        if level is None:
            level = self._buffers[key] = np.zeros((ph, pw, 3), np.float32)
            self._anchors[key] = _anchor_centres(ph, pw)
        level[h:] = 0  # padding: 0 after normalisation = mid-grey
        level[:, w:] = 0
        np.multiply(resized, np.float32(1 / 127.5), out=level[:h, :w], casting="unsafe")
        level[:h, :w] -= 1.0
        outputs = self._model(level[None])
        reg, logits, anchors = outputs[self._reg][0], outputs[self._cls][0, :, 0], self._anchors[key]
        keep = logits > math.log(self.score_threshold / (1 - self.score_threshold))
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32)
        a = anchors[keep]
        r = reg[keep]
        cx, cy = a[:, 0] + r[:, 0], a[:, 1] + r[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / scale
        points = (r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]) / scale
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100, 100)))
        return boxes, scores.astype(np.float32), points

    def process(self, image: np.ndarray, faces: Faces) -> Faces:
        height, width = image.shape[:2]
        pil = Image.fromarray(image)
        parts = [self._level(image, pil, s) for s in self.scales(width, height)]
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        points = np.concatenate([p[2] for p in parts])
        boxes, scores, points = weighted_nms(boxes, scores, points, self.nms_iou)
        keep = ~_nested(boxes, scores)
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        ok = (boxes[:, 2] - boxes[:, 0] >= 4) & (boxes[:, 3] - boxes[:, 1] >= 4)
        return Faces(boxes[ok], scores[ok], _five_points(points[ok]))

    def close(self) -> None:
        self._model.close()
        self._buffers.clear()


def _nested(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """(M,) True for boxes that lie mostly (> threshold of their area) inside a larger, surer box.

    Faces do not nest, but a fine pyramid level can fire on part of a large face (an eye and the
    nose, say) that IoU-based NMS cannot merge because the boxes differ so much in size. The
    container must score at least as high: a coarse level's weak box spanning two real faces must
    not suppress them (the landmarker rejects such boxes later).
    """
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ix = np.clip(np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1]), 0, None)
    inside = ix * iy / np.maximum(area[:, None], 1e-9)  # [i, j]: share of box i inside box j
    larger = area[None, :] > area[:, None]
    surer = scores[None, :] >= scores[:, None]
    return ((inside > threshold) & larger & surer).any(axis=1)


def _five_points(p6: np.ndarray) -> np.ndarray:
    """BlazeFace's (eye R, eye L, nose, mouth centre, ear R, ear L) → ferx's 5 points.

    BlazeFace has no mouth corners; until the landmarker replaces them, they are placed on the eye
    axis through the mouth centre at 0.8 × the inter-ocular distance apart (typical adult mouth width).
    """
    eye_a, eye_b, nose, mouth = p6[:, 0], p6[:, 1], p6[:, 2], p6[:, 3]
    left_first = eye_a[:, :1] <= eye_b[:, :1]
    eye_left = np.where(left_first, eye_a, eye_b)
    eye_right = np.where(left_first, eye_b, eye_a)
    half = 0.4 * (eye_right - eye_left)
    return np.stack([eye_left, eye_right, nose, mouth - half, mouth + half], axis=1).astype(np.float32)
