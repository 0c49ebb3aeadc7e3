"""YuNet run on onnxruntime at one or two scales.

Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research 20
(2023). The model is OpenCV Zoo's `face_detection_yunet_2023mar.onnx` (MIT, Shiqi Yu), shipped inside
ferx at `ferx/assets/yunet/` with its licence and a NOTICE, verified by sha256 before use
(`ferx.assets.yunet_path`). The graph's
declared input is 1×3×640×640, but its reshapes keep the batch and channels only, so the copy ferx
ships declares symbolic sizes (`ferx.train.yunet`, which checks nodes and weights are unchanged) and
onnxruntime runs it at the image's own size (rounded up to a multiple of 32, which its two ×2
upsamplings need), as OpenCV's `FaceDetectorYN` runs the original.

Why it: an anchor-free detector of ~75 k parameters whose strides 8/16/32 find faces of ~10–300
model pixels (faces pasted into photos: reliably from ~30) in one pass of a fully convolutional
network, where the short-range BlazeFace (trained for 24–120 px selfie faces) needs a pyramid whose
finest level alone is most of its cost (issue 25). Measured: 22 ms of one core per 640×480 photo at
the default 32 model px per 24-px face (the pyramid 34), half or less on 1–3-Mpx photos, far fewer
false boxes. An option (`detector: yunet`), not the default: the AU calibration was fitted on
BlazeFace's boxes (docs/architecture.md, "YuNet is an option").

Levels: the photo is scaled so that a `min_face`-pixel face becomes `model_min` model pixels (the
fine level; capped at `max_level_pixels`, so a very large photo is searched for proportionally
larger faces, with a note); where a face as large as the photo's shorter side would exceed the
model's ~300 px there, a coarse level with the shorter side at `coarse_side` px is added. Both
levels' detections are merged by plain NMS (the model's own; its decoding matches OpenCV's
`FaceDetectorYN` to 1e-4 px on lfw photos), and boxes nested in a surer, larger one are dropped.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from ferx.assets import yunet_path
from ferx.boxes import nested_in_surer, nms
from ferx.detect.levels import capped_note, inside_image, level_cap
from ferx.facecrop import frame_image
from ferx.stages import DETECTORS, StageBase
from ferx.types import Faces

_STRIDES = (8, 16, 32)
_MULTIPLE = 32  # input sides must be multiples of the coarsest stride
_LARGEST = 300.0  # model pixels: the largest faces the model was trained to find (its model card)
# ferx's face box is MediaPipe's (square, as BlazeFace gives it), which the mesh's ROI (1.5 × the box)
# and the tracker's search regions assume. YuNet's box is taller (w/h 0.75: forehead to chin). On
# 250 lfw photos of training identities (padded so no box is clipped), BlazeFace's side was 0.95 ×
# √(w·h) of YuNet's box (IQR 0.91–1.00, the tightest of w, h and √(w·h)) and its centre 0.072 h lower.
_SIDE = 0.95
_DROP = 0.072


@lru_cache(maxsize=32)
def _grid(height: int, width: int, stride: int) -> np.ndarray:
    """(cells, 2) column, row of every cell of one stride's output, in the model's order (row-major)."""
    rows, cols = math.ceil(height / stride), math.ceil(width / stride)
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    g = np.stack([c.ravel(), r.ravel()], axis=1).astype(np.float32)
    g.setflags(write=False)
    return g


def decode(outputs: dict[str, np.ndarray], height: int, width: int,
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet's raw outputs for an input of height × width → boxes (M, 4) xyxy, scores (M,) and the
    five points (M, 5, 2), all in input pixels, for cells scoring at least `threshold`.

    Per cell of stride s at column c, row r: score = √(cls · obj) (both clipped to [0, 1]), centre
    ((c, r) + offset) · s, size exp(log-size) · s, points ((c, r) + offset) · s — the paper's
    anchor-free head."""
    boxes, scores, points = [], [], []
    for s in _STRIDES:
        cls = np.clip(outputs[f"cls_{s}"][0, :, 0], 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{s}"][0, :, 0], 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= threshold)
        if not len(keep):
            continue
        cell = _grid(height, width, s)[keep]
        b = outputs[f"bbox_{s}"][0, keep]
        centre = (cell + b[:, :2]) * s
        size = np.exp(b[:, 2:4]) * s
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        points.append((outputs[f"kps_{s}"][0, keep].reshape(-1, 5, 2) + cell[:, None, :]) * s)
        scores.append(score[keep])
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    return (np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32),
            np.concatenate(points).astype(np.float32))


def model_input(pixels: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) float32 input of an (h, w, 3) RGB image: the model's BGR order, 0–255, zero-padded
    (as the model was run in training) to sides that are multiples of 32."""
    h, w = pixels.shape[:2]
    x = np.zeros((1, 3, -(-h // _MULTIPLE) * _MULTIPLE, -(-w // _MULTIPLE) * _MULTIPLE), np.float32)
    x[0, :, :h, :w] = pixels[:, :, ::-1].transpose(2, 0, 1)
    return x


def _square(boxes: np.ndarray) -> np.ndarray:
    """YuNet's boxes → ferx's square face boxes (see `_SIDE`)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2 + _DROP * h
    half = _SIDE * np.sqrt(w * h) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


@DETECTORS.register("yunet")
class YuNetDetector(StageBase):
    """YuNet at a fine and, for large faces, a coarse scale.

    Safe to share between threads: onnxruntime's `InferenceSession.run` is, and every buffer is
    local to the call.

    Args:
        min_face: smallest face side, in image pixels, sought; the fine level maps it to `model_min`
            model pixels.
        score_threshold: minimum detection score (√(cls · obj)).
        nms_iou: IoU above which detections are merged.
        model_min: model pixels a `min_face` face is scaled to (the model finds faces from ~10 px).
        max_level_pixels: cap on the fine level's pixels; beyond it the smallest face sought grows
            with the photo (a note says so). 4 Mpx holds a 1920×1080 photo's 24-px faces.
        large_photo_pixels, large_level_pixels: beyond `large_photo_pixels` the cap falls as 1 / the
            photo's pixels, down to `large_level_pixels` (as BlazeFace's does): a 12-Mpx photo is read
            at 2 Mpx, for faces of ≥ ~79 px (its 640-px copy: ≥ 24 px there, 151 px at 12 Mpx).
        coarse_side: shorter side of the coarse level, added when a face filling the photo's shorter
            side would exceed the model's ~300-px range at the fine level.
        threads: onnxruntime intra-op threads.
    """

    needs: frozenset[str] = frozenset()
    provides = frozenset({"boxes", "scores", "keypoints"})
    threads_option = "threads"

    def __init__(self, min_face: int = 24, score_threshold: float = 0.6, nms_iou: float = 0.3,
                 model_min: float = 32.0, max_level_pixels: int = 4_000_000, large_photo_pixels: int = 4_000_000,
                 large_level_pixels: int = 2_000_000, coarse_side: int = 224, threads: int = 2) -> None:
        import onnxruntime as ort  # heavy import stays in the backend

        if min_face < 8:
            raise ValueError(f"min_face must be at least 8 px, got {min_face}")
        if not 0.0 < score_threshold < 1.0 or not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"score_threshold must be in (0, 1) and nms_iou in (0, 1], got {score_threshold}, {nms_iou}")
        if not 8.0 <= model_min <= 64.0:
            raise ValueError(f"model_min must be in [8, 64] model pixels, got {model_min}")
        self.min_face, self.model_min = int(min_face), float(model_min)
        self.score_threshold, self.nms_iou = float(score_threshold), float(nms_iou)
        self.max_level_pixels, self.coarse_side = int(max_level_pixels), int(coarse_side)
        self.large_photo_pixels = int(large_photo_pixels)
        self.large_level_pixels = int(min(large_level_pixels, max_level_pixels))
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        # idle pool threads must not spin: the mesh runs on the same cores right after (spinning
        # doubled its time, measured)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(yunet_path()), options, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]

    def level_cap(self, width: int, height: int) -> float:
        """The finest level's pixel cap for a photo of this size (see `large_photo_pixels`)."""
        return level_cap(width, height, self.max_level_pixels, self.large_photo_pixels, self.large_level_pixels)

    def is_capped(self, width: int, height: int) -> bool:
        """Whether the level cap limits the fine level for an image of this size."""
        return self.model_min / self.min_face > math.sqrt(self.level_cap(width, height) / (width * height))

    def scales(self, width: int, height: int) -> list[float]:
        """Level scale factors (level size / image size), fine first."""
        fine = min(self.model_min / self.min_face, math.sqrt(self.level_cap(width, height) / (width * height)))
        out = [fine]
        if fine * min(width, height) > _LARGEST:
            out.append(min(fine, self.coarse_side / min(width, height)))
        return out if len(out) == 1 or out[1] < out[0] else out[:1]

    def _levels(self, image: np.ndarray) -> list[np.ndarray]:
        """The levels' pixels, fine first. A shrunk level is resampled from the one before it (a
        12-Mpx photo is read once), and a shrink by 2× or more reduces by an integer box first
        (Pillow's `reducing_gap` 1): resampling was half a 12-Mpx photo's detection time."""
        height, width = image.shape[:2]
        out, source = [], frame_image(image)
        for scale in self.scales(width, height):
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if size == (width, height):
                out.append(image)
                continue
            gap = 1.0 if size[0] * 2 <= source.width else 3.0
            level = source.resize(size, Image.BILINEAR, reducing_gap=gap)
            source = level if scale < 1.0 else source
            out.append(np.asarray(level))
        return out

    def raw(self, level: np.ndarray) -> tuple[dict[str, np.ndarray], int, int]:
        """The model's outputs by name for one level (RGB), and the padded input's height and width."""
        x = model_input(level)
        return dict(zip(self._outputs, self._session.run(self._outputs, {"input": x}))), x.shape[2], x.shape[3]

    def _level(self, level: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections in one level, in image pixels."""
        h, w = level.shape[:2]
        raw, th, tw = self.raw(level)
        boxes, scores, points = decode(raw, th, tw, self.score_threshold)
        sx, sy = width / w, height / h
        return boxes * [sx, sy, sx, sy], scores, points * [sx, sy]

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        height, width = image.shape[:2]
        if notes is not None and self.is_capped(width, height):
            notes.append(capped_note(self.model_min / math.sqrt(self.level_cap(width, height) / (width * height))))
        parts = [self._level(level, height, width) for level in self._levels(image)]
        boxes, scores, points = (np.concatenate([p[i] for p in parts]) for i in range(3))
        order = nms(boxes, scores, self.nms_iou)  # plain NMS, as the model was evaluated with
        boxes, scores, points = boxes[order], scores[order], points[order]
        keep = ~nested_in_surer(boxes, scores)
        boxes, ok = inside_image(_square(boxes[keep]), width, height)
        scores, points = scores[keep], points[keep]
        # YuNet's points are the subject's right eye, left eye, nose tip, right and left mouth
        # corners: for an upright face, image-left first — ferx's order
        return Faces(boxes[ok].astype(np.float32), scores[ok], points[ok].astype(np.float32))

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
