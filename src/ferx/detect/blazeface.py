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
from functools import lru_cache

import numpy as np
from PIL import Image

from ferx.assets import face_landmarker_member
from ferx.boxes import nested_in_surer
from ferx.detect.levels import capped_note, inside_image, level_cap
from ferx.facecrop import frame_image
from ferx.litert import LiteRTModel
from ferx.numeric import sigmoid
from ferx.stages import DETECTORS, StageBase
from ferx.types import Faces

_TRAIN_SIZE = 128  # regression outputs are in units of the 128-px training input
_TARGET_MIN = 26.0  # model-space size a `min_face` face is scaled to (24 px is the reliable floor)
_STEP = 3.0  # max ratio between pyramid levels (the reliable range 30–120 px spans 4x)
_SNAP = 0.15  # a finest scale this close to 1 becomes exactly 1 (skips resampling the full image)
_OVERLAP = 128  # tile overlap in level pixels: larger than any face the model finds (≤ ~120 px)


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


@lru_cache(maxsize=64)
def _anchors_for(height: int, width: int) -> np.ndarray:
    """Anchor centres of a level or tile shape; cached (read-only) since shapes repeat."""
    a = _anchor_centres(height, width)
    a.setflags(write=False)
    return a


def _ceil(n: float, k: int) -> int:
    return int(-(-n // k) * k)


#: Canonical input sides: multiples of 16 up to 512 px (the model's own stride, as before: small
#: photos and video frames keep their exact inputs), of 128 up to 1024, of 256 beyond. Every level or
#: tile is padded (mid-grey) to canonical sides, so that photos of many sizes share a few large input
#: shapes and the interpreters built for them (building one costs 1.5–3 inferences).
_QUANTA = ((512, 16), (1024, 128), (math.inf, 256))


def canonical_side(n: int) -> int:
    """The canonical side a level's side of `n` px is padded to (at least the model's 128)."""
    n = max(int(n), _TRAIN_SIZE)
    return next(_ceil(n, q) for limit, q in _QUANTA if _ceil(n, q) <= limit or limit == math.inf)


def _canonical_sides(upto: int) -> list[int]:
    sides, n = [], _TRAIN_SIZE
    while n <= upto:
        sides.append(n)
        n = canonical_side(n + 1)
    return sides


def tile_grid(height: int, width: int, max_pixels: int, overlap: int = _OVERLAP) -> list[tuple[int, int, int, int]]:
    """Tiles (y0, x0, th, tw) covering a level of height × width pixels, all of one canonical shape;
    a tile may run past the level's bottom/right edge (padding) only where one tile spans that side.

    A level whose canonical shape fits in `max_pixels` is one tile. Otherwise the tile shape is the
    canonical one of at most `max_pixels` that covers the level with the fewest pixels; tiles overlap
    by at least `overlap` px, more than any face the model finds (24–120 px in its input), so every
    face lies whole inside some tile.
    """
    ph, pw = canonical_side(height), canonical_side(width)
    if ph * pw <= max_pixels:
        return [(0, 0, ph, pw)]

    def count(length: int, padded: int, size: int) -> int:
        return 1 if padded <= size else math.ceil((length - overlap) / (size - overlap))

    best: tuple[int, int, int] | None = None
    for th in [t for t in _canonical_sides(ph) if t >= 4 * overlap or t == ph]:
        for tw in [t for t in _canonical_sides(pw) if t >= 4 * overlap or t == pw]:
            if th * tw <= max_pixels:
                cost = count(height, ph, th) * count(width, pw, tw) * th * tw
                if best is None or cost < best[0]:
                    best = (cost, th, tw)
    if best is None:
        raise ValueError(f"max_pixels {max_pixels} cannot hold a tile of a {height}x{width} level")
    _, th, tw = best

    def starts(length: int, padded: int, size: int) -> list[int]:
        n = count(length, padded, size)
        return [0] if n == 1 else [math.floor(k * (length - size) / (n - 1)) for k in range(n)]

    return [(y0, x0, th, tw) for y0 in starts(height, ph, th) for x0 in starts(width, pw, tw)]


@DETECTORS.register("blazeface")
class BlazeFaceDetector(StageBase):
    """Multi-scale BlazeFace.

    Safe to share between threads: the model is a LiteRT interpreter pool (`ferx.litert`) and
    every buffer is local to the call.

    Args:
        min_face: smallest face side, in image pixels, the pyramid is built to find. Smaller values
            add a finer (more expensive) level; cost grows with the square of 1 / min_face.
        score_threshold: minimum detection confidence.
        nms_iou: IoU above which detections are merged.
        max_level_pixels: cap on the pixels of the finest level. 2.2 Mpx scans a 1920×1080 photo
            whole for `min_face` faces; on a larger photo the smallest face sought grows with the
            photo, so its cost stops following its pixels and it gives the faces its 640-px copy
            gives; a note says faces smaller than `min_face` may be missed.
        large_photo_pixels, large_level_pixels: beyond `large_photo_pixels` (4 Mpx) the cap falls
            as 1 / the photo's pixels, down to `large_level_pixels` (1.2 Mpx, reached at 7.3 Mpx), so
            that on a very large photo the smallest face sought is a fixed share of its side (~2 %
            of the longer side of a 4:3 photo: ~83 px at 12 Mpx instead of ~61) — still finer than
            what its 640-px copy finds (24 px there is 151 px at 12 Mpx) — for about half the
            finest level's cost, the most of a 12-Mpx photo's detection time. large_photo_pixels 0
            keeps the cap fixed.
        max_tile_pixels: levels larger than this run as overlapping tiles of at most this many
            pixels, which bounds memory: the detector's interpreter needs ~187 MB per megapixel of
            input (measured), and a 60000×16 strip padded whole to the model's 128-px minimum took
            2.5 GB. 0.8 Mpx keeps the process under ~600 MB over photos of any size.
        threads: CPU threads for LiteRT.
    """

    needs: frozenset[str] = frozenset()
    provides = frozenset({"boxes", "scores", "keypoints"})
    threads_option = "threads"

    def __init__(
        self,
        min_face: int = 24,
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        max_level_pixels: int = 2_200_000,
        large_photo_pixels: int = 4_000_000,
        large_level_pixels: int = 1_200_000,
        max_tile_pixels: int = 800_000,
        threads: int = 2,
    ) -> None:
        if min_face < 8:
            raise ValueError(f"min_face must be at least 8 px, got {min_face}")
        if not 0.0 < score_threshold < 1.0 or not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"score_threshold must be in (0, 1) and nms_iou in (0, 1], got {score_threshold}, {nms_iou}")
        if max_tile_pixels < 16 * _OVERLAP * _OVERLAP:
            raise ValueError(f"max_tile_pixels must be at least {16 * _OVERLAP * _OVERLAP}, got {max_tile_pixels}")
        self.min_face = int(min_face)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_level_pixels = int(max_level_pixels)
        self.large_photo_pixels = int(large_photo_pixels)
        self.large_level_pixels = int(min(large_level_pixels, max_level_pixels))
        self.max_tile_pixels = int(max_tile_pixels)
        # Idle interpreters (3 input elements per pixel, ~187 MB of arena per Mpx of input): 4 tiles'
        # worth of elements, 3.2 M, holds the pyramid of a photo up to ~2 Mpx and of a very large one
        # (its finest level capped at 1.2 Mpx), so neither rebuilds an interpreter per call. A ~3-Mpx
        # photo's largest tile and next level together exceed it and rebuild one per call (2016×1512:
        # 341 → 456 ms, measured); 6.5 tiles' worth avoided that but held 700–750 MB over 500 photos
        # of mixed sizes against 561 MB now (issue 25's ceiling: 600 MB).
        self._model = LiteRTModel(face_landmarker_member("face_detector.tflite"), threads=threads, max_idle=16,
                                  max_idle_elements=int(4.0 * self.max_tile_pixels))
        self._reg, self._cls = (self._model.output_names.index(n) for n in ("regressors", "classificators"))

    def is_capped(self, width: int, height: int) -> bool:
        """Whether `max_level_pixels` limits the finest level for an image of this size (a finest
        scale close to 1 counts as 1, as `scales` snaps it)."""
        fine = _TARGET_MIN / self.min_face
        fine = 1.0 if abs(fine - 1.0) < _SNAP else fine
        return fine > math.sqrt(self.level_cap(width, height) / (width * height))

    def level_cap(self, width: int, height: int) -> float:
        """The finest level's pixel cap for a photo of this size (see `large_photo_pixels`)."""
        return level_cap(width, height, self.max_level_pixels, self.large_photo_pixels, self.large_level_pixels)

    def scales(self, width: int, height: int) -> list[float]:
        """Pyramid scale factors (level size / image size), coarse to fine."""
        coarse = _TRAIN_SIZE / max(width, height)
        fine = min(_TARGET_MIN / self.min_face, math.sqrt(self.level_cap(width, height) / (width * height)))
        if fine <= coarse:
            return [coarse]
        if abs(fine - 1.0) < _SNAP:
            fine = 1.0  # the image as it is: no resampling, and within the model's range anyway
        n = max(1, math.ceil(math.log(fine / coarse) / math.log(_STEP)))
        return [coarse * (fine / coarse) ** (i / n) for i in range(n + 1)]

    def _levels(self, image: np.ndarray, scales: list[float]) -> list[tuple[float, np.ndarray]]:
        """(scale, level pixels) for each scale. Where even the finest level is less than half the
        photo's size (a large photo whose finest level is capped), each level is resampled from the
        next finer one, so that a 12-Mpx photo is shrunk once; otherwise from the photo. Shrinking by
        6× or more reduces by an integer factor first (Pillow's `reducing_gap`, 3: "indistinguishable
        from fair resampling in most cases"), which smaller factors leave as they were."""
        height, width = image.shape[:2]
        chain = max(scales) < 0.5
        out, photo = [], frame_image(image)
        source = photo
        for scale in sorted(scales, reverse=True):
            if scale == 1.0:
                out.append((scale, image))
                continue
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            # a capped photo's finest level: halve the photo by a 2×2 box first (reducing_gap 1),
            # which costs a fraction of resampling all its pixels
            gap = 1.0 if chain and source is photo else 3.0
            level = source.resize(size, Image.BILINEAR, reducing_gap=gap)
            source = level if chain else photo
            out.append((scale, np.asarray(level)))
        return out[::-1]

    def _level(self, level: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = level.shape[:2]
        tiles = tile_grid(h, w, self.max_tile_pixels)
        parts = []
        for k, (y0, x0, th, tw) in enumerate(tiles):
            boxes, scores, points = self._tile(level[y0 : y0 + th, x0 : x0 + tw], th, tw)
            if len(tiles) > 1 and len(boxes):
                keep = _owned(boxes, tiles, k)
                boxes, scores, points = boxes[keep], scores[keep], points[keep]
            boxes[:, [0, 2]] += x0
            boxes[:, [1, 3]] += y0
            points += np.array([x0, y0], np.float32)
            parts.append((boxes / scale, scores, points / scale))
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))

    def _tile(self, pixels: np.ndarray, th: int, tw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections in one tile, in tile pixels; the tile is padded to th × tw with mid-grey."""
        h, w = pixels.shape[:2]
        x = np.zeros((1, th, tw, 3), np.float32)  # 0 after normalisation = mid-grey padding
        np.multiply(pixels, np.float32(1 / 127.5), out=x[0, :h, :w], casting="unsafe")
        x[0, :h, :w] -= 1.0
        outputs = self._model(x)
        reg, logits, anchors = outputs[self._reg][0], outputs[self._cls][0, :, 0], _anchors_for(th, tw)
        keep = logits > math.log(self.score_threshold / (1 - self.score_threshold))
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32)
        a = anchors[keep]
        r = reg[keep]
        cx, cy = a[:, 0] + r[:, 0], a[:, 1] + r[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        points = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
        scores = sigmoid(logits[keep])
        return boxes.astype(np.float32), scores.astype(np.float32), points.astype(np.float32)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        height, width = image.shape[:2]
        if notes is not None and self.is_capped(width, height):
            notes.append(capped_note(_TARGET_MIN / math.sqrt(self.level_cap(width, height) / (width * height))))
        parts = [self._level(level, s) for s, level in self._levels(image, self.scales(width, height))]
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        points = np.concatenate([p[2] for p in parts])
        boxes, scores, points = weighted_nms(boxes, scores, points, self.nms_iou)
        keep = ~nested_in_surer(boxes, scores)
        boxes, ok = inside_image(boxes[keep], width, height)
        scores, points = scores[keep], points[keep]
        return Faces(boxes[ok], scores[ok], _five_points(points[ok]))

    def close(self) -> None:
        self._model.close()


def _owned(boxes: np.ndarray, tiles: list[tuple[int, int, int, int]], k: int) -> np.ndarray:
    """(M,) True for tile k's detections (tile pixels) whose centre lies in the part of the level
    that tile k owns: overlaps are split at their middle, so a face (smaller than the overlap) is
    kept exactly once, from a tile that holds it whole, and a face cut by a tile edge is dropped."""
    y0, x0, th, tw = tiles[k]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + x0
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + y0
    keep = np.ones(len(boxes), bool)
    for j, (y1, x1, h1, w1) in enumerate(tiles):
        if j == k:
            continue
        if y1 == y0 and x1 != x0:  # same row: split the horizontal overlap
            mid = (max(x0, x1) + min(x0 + tw, x1 + w1)) / 2
            keep &= cx < mid if x1 > x0 else cx >= mid
        elif x1 == x0 and y1 != y0:  # same column
            mid = (max(y0, y1) + min(y0 + th, y1 + h1)) / 2
            keep &= cy < mid if y1 > y0 else cy >= mid
    return keep


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
