"""The one-pass detector as a pipeline stage: faces and their expressions from one network run.

Registered as the detector backend "onepass". It runs an exported FER-YOLO-Mamba model
(NAME.onnx + NAME.json, see `ferx.train.onepass.export`) on onnxruntime — no torch — and fills, besides
boxes and face scores, `expression` (the class scores normalised to sum to 1) and `keypoints`
(placed from a mean template inside each box, not measured: the landmarker, when configured,
replaces them with mesh points). The `onepass` pipeline preset (`ferx.config.PIPELINES`) runs this
stage alone; adding a landmarker / AU stage after it measures landmarks and AUs on its boxes.

Defaults: NMS IoU 0.3 (the paper's) and the face-score threshold recorded in the model's sidecar —
0.5 (the paper's) unless the model records another (the shipped model records 0.4, chosen on validation data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ferx.assets import packaged_model
from ferx.errors import ImageTooSmall, ModelFileError
from ferx.detect.onepass_decode import image_detections, letterbox
from ferx.numeric import input_normalisation
from ferx.stages import DETECTORS, StageBase
from ferx.types import Faces

DEFAULT_MODEL = "onepass-nano-csp"
MIN_SIDE = 16


def model_files(model: str) -> tuple[Path, dict]:
    """Resolve a shipped model name (ferx/assets/models) or a path to NAME.onnx; check its sha256."""
    path, meta = packaged_model(model, "one-pass model")
    if meta.get("kind") != "onepass-detector":
        raise ModelFileError(f"{path.with_suffix('.json')}: not a one-pass detector model card (kind {meta.get('kind')!r})")
    return path, meta

class OnnxDetector:
    """An exported one-pass model on onnxruntime: image in, boxes + face scores + class scores out."""

    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1) -> None:
        import onnxruntime as ort

        path, self.meta = model_files(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.size = int(self.meta["input"]["size"])
        self.labels = tuple(self.meta["labels"])
        self._normalise = input_normalisation(self.meta, str(path))
        self.default_conf = float(self.meta.get("defaults", {}).get("conf", 0.5))
        self.outputs = list(self.meta["outputs"])
        self.keypoint_template = np.array(self.meta["keypoint_template"], np.float32)

    def predict(self, image: np.ndarray, conf: float | None = None, nms_iou: float = 0.3,
                upscale: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect on an (H, W) or (H, W, 3) uint8 image.

        The model learnt faces of 16 to ~290 px at the pixel size it sees. An image larger than the
        model's input is shrunk to fit; a smaller one is kept at its size (upscale=False), because
        enlarging a 350-px close-up to 640 px would make its face larger than any it was trained
        on. upscale=True enlarges small images to fit, which helps with tiny faces in small images.

        Args:
            conf: face-score threshold; None = the model's recorded default.
        Returns:
            boxes (K, 4) xyxy in image pixels, face scores (K,), class scores (K, C) (independent
            sigmoids, as trained).
        """
        if conf is None:
            conf = self.default_conf
        if image.ndim not in (2, 3) or image.shape[0] < MIN_SIDE or image.shape[1] < MIN_SIDE:
            raise ImageTooSmall(f"image of shape {image.shape} is too small for the one-pass detector "
                                 f"(at least {MIN_SIDE}×{MIN_SIDE} px)")
        grey = image if image.ndim == 2 else np.asarray(Image.fromarray(image[..., :3]).convert("L"))
        canvas, scale = letterbox(np.ascontiguousarray(grey, np.uint8), self.size, upscale)
        maps = self._session.run(self.outputs, {"image": self._normalise(canvas)[None, None]})
        return image_detections(maps, self.size, scale, grey.shape, conf, nms_iou)

    def close(self) -> None:
        self._session = None


@DETECTORS.register("onepass")
class OnePassStage(StageBase):
    """Args:
        model: shipped model name or path to NAME.onnx (NAME.json beside it).
        conf: face-score threshold; None = the model's recorded default (shipped model: 0.4, chosen on
            validation mosaics and photos; the paper's is 0.5).
        nms_iou: class-agnostic NMS IoU (paper: 0.3).
        threads: onnxruntime intra-op threads.
        upscale: enlarge images smaller than the model input (see `OnnxDetector.predict`).
    """

    needs: frozenset[str] = frozenset()
    provides = frozenset({"boxes", "scores", "keypoints", "expression"})
    threads_option = "threads"

    def __init__(self, model: str = DEFAULT_MODEL, conf: float | None = None, nms_iou: float = 0.3,
                 threads: int = 2, upscale: bool = False) -> None:
        if (conf is not None and not 0.0 <= conf <= 1.0) or not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"onepass: conf must be in [0, 1] and nms_iou in (0, 1], got {conf}, {nms_iou}")
        self.detector = OnnxDetector(model, threads)
        self.labels = self.detector.labels
        if conf is None:
            conf = self.detector.default_conf
        self.conf, self.nms_iou, self.upscale = float(conf), float(nms_iou), bool(upscale)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        boxes, scores, probs = self.detector.predict(image, self.conf, self.nms_iou, self.upscale)
        wh = boxes[:, 2:] - boxes[:, :2]
        keypoints = boxes[:, None, :2] + self.detector.keypoint_template[None] * wh[:, None, :]
        expression = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return Faces(boxes, scores, keypoints, expression=expression, expression_labels=self.detector.labels)

    def close(self) -> None:
        self.detector.close()
