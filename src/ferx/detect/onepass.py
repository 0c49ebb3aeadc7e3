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
from ferx.boxes import box_iou, nms
from ferx.errors import ImageTooSmall, ModelFileError
from ferx.detect.onepass_decode import decode, image_detections, letterbox, letterbox_scale
from ferx.numeric import input_normalisation
from ferx.stages import DETECTORS, StageBase
from ferx.types import Faces

DEFAULT_MODEL = "onepass-nano-csp"
MIN_SIDE = 16
#: face-score threshold of the second read of large faces: it only has to find the face the first
#: read found, to take its class scores
SECOND_READ_CONF = 0.05
#: least distance in input pixels between the image and the shrunk copy pasted beside it: at 64 a copy
#: below a 640×480 group photo added a box among its faces (a test); at 160 (five stride-32 cells) the
#: copy fits beside close-ups up to ~350 px, and elsewhere is read on its own
PASTE_GAP = 160
#: The stage's second read of large faces (`OnnxDetector.predict`), chosen on validation data by the
#: criterion in benchmarks/bench_onepass_large.py: faces over LARGE_FACE model pixels read again with
#: the image's longer side at LARGE_SIDE px.
LARGE_FACE: float | None = 192.0
LARGE_SIDE = 128
LARGE_BOX = False


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
                upscale: bool = False, large_face: float | None = None, large_side: int = 160,
                large_box: bool = False, paste: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect on an (H, W) or (H, W, 3) uint8 image.

        The model learnt faces of 16 to ~290 px at the pixel size it sees. An image larger than the
        model's input is shrunk to fit; a smaller one is kept at its size (upscale=False), because
        enlarging a 350-px close-up to 640 px would make its face larger than any it was trained
        on. upscale=True enlarges small images to fit, which helps with tiny faces in small images.

        It *finds* faces up to ~290 px, but its expression scores hold only on faces of the sizes the
        mosaics mostly hold: on real close-ups (faces of ~200 px) they hardly depend on the face
        (docs/results.md, issue 26). With `large_face`, a face larger than that many model pixels
        takes its class scores (and with `large_box` its box) from a second read of the image shrunk
        to `large_side` px on its longer side, where it is the size the head learnt; face scores
        are the first read's. With `paste` (default) the shrunk copy is read in the same pass,
        pasted into the input's free right or bottom strip at least PASTE_GAP px from the image,
        wherever it fits (a close-up, a 4:3 photo), so it costs nothing; elsewhere (a full 640×640
        input) it is read on its own when a face is large. Pasted, it pulls faintly on the first
        read through the receptive field (face scores move by ~1e-4; on the validation photos the
        faces found and false boxes were the same).

        Args:
            conf: face-score threshold; None = the model's recorded default.
            large_face, large_side, large_box, paste: the second read (off with large_face None).
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
        grey = np.ascontiguousarray(grey, np.uint8)
        shrink = large_side / max(grey.shape)
        first_scale = letterbox_scale(grey.shape, self.size, upscale)
        small = None
        # a copy only where a face could be large and the copy is smaller than the first read: a small
        # image (a dataset crop) is read once, as without the option
        if large_face is not None and max(grey.shape) * first_scale > large_face and shrink < first_scale \
                and shrink * max(grey.shape) >= MIN_SIDE:
            small = np.asarray(Image.fromarray(grey).resize((max(1, round(grey.shape[1] * shrink)),
                                                             max(1, round(grey.shape[0] * shrink))), Image.BILINEAR))
        both = self._read_with_copy(grey, small, conf, nms_iou, upscale) if small is not None and paste else None
        if both is not None:
            (boxes, scores, probs, scale), second = both
        else:
            boxes, scores, probs, scale = self._read(grey, conf, nms_iou, upscale)
            second = None
        big = np.flatnonzero((boxes[:, 2:] - boxes[:, :2]).max(axis=1) * scale > large_face) \
            if small is not None and len(boxes) else np.zeros(0, int)
        if len(big):  # the copy is smaller than the first read: `small` exists only where shrink < first_scale
            if second is None:
                b2, _, p2, _ = self._read(small, SECOND_READ_CONF, nms_iou, False)
            else:
                b2, _, p2 = second
            if len(b2):
                b2 = b2 / shrink
                iou = box_iou(boxes[big], b2)
                best = iou.argmax(axis=1)
                for i, j, ok in zip(big, best, iou[np.arange(len(big)), best] >= 0.5):
                    if ok:
                        probs[i] = p2[j]
                        if large_box:
                            boxes[i] = b2[j]
        return boxes, scores, probs

    def _read_with_copy(self, grey: np.ndarray, small: np.ndarray, conf: float, nms_iou: float, upscale: bool):
        """One pass over the letterboxed image with `small` pasted into the canvas's free right or bottom
        strip (at least PASTE_GAP px from the image): the first read's detections (as `_read`) and the
        copy's (in `small`'s pixels, face score ≥ SECOND_READ_CONF), or None where there is no room."""
        canvas, scale = letterbox(grey, self.size, upscale)
        nh, nw = min(self.size, round(grey.shape[0] * scale)), min(self.size, round(grey.shape[1] * scale))
        sh, sw = small.shape
        if self.size - nw - sw >= PASTE_GAP:
            y0, x0 = 0, self.size - sw
        elif self.size - nh - sh >= PASTE_GAP:
            y0, x0 = self.size - sh, 0
        else:
            return None
        canvas = canvas.copy()
        canvas[y0 : y0 + sh, x0 : x0 + sw] = small
        maps = self._session.run(self.outputs, {"image": self._normalise(canvas)[None, None]})
        first = image_detections(maps, self.size, scale, grey.shape, conf, nms_iou)
        b, obj, cls = (a[0] for a in decode(maps, (self.size, self.size)))
        centre = (b[:, :2] + b[:, 2:]) / 2
        inside = (centre >= (x0, y0)).all(axis=1) & (centre < (x0 + sw, y0 + sh)).all(axis=1)
        keep = np.flatnonzero(inside & (obj >= SECOND_READ_CONF))
        b = b[keep] - np.array([x0, y0, x0, y0], np.float32)
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, sw)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, sh)
        k = nms(b, obj[keep], nms_iou)
        return (*first, scale), (b[k], obj[keep][k], cls[keep][k])

    def _read(self, grey: np.ndarray, conf: float, nms_iou: float, upscale: bool
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        canvas, scale = letterbox(grey, self.size, upscale)
        maps = self._session.run(self.outputs, {"image": self._normalise(canvas)[None, None]})
        return (*image_detections(maps, self.size, scale, grey.shape, conf, nms_iou), scale)

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
        large_face, large_side, large_box: faces larger than `large_face` model pixels take their
            expression from a second read of the image shrunk to `large_side` px (and with
            `large_box` their box); `large_face` None turns it off. Defaults chosen on validation
            photos and mosaics (`benchmarks/bench_onepass_large.py`, docs/results.md issue 26).
    """

    needs: frozenset[str] = frozenset()
    provides = frozenset({"boxes", "scores", "keypoints", "expression"})
    threads_option = "threads"

    def __init__(self, model: str = DEFAULT_MODEL, conf: float | None = None, nms_iou: float = 0.3,
                 threads: int = 2, upscale: bool = False, large_face: float | None = LARGE_FACE,
                 large_side: int = LARGE_SIDE, large_box: bool = LARGE_BOX) -> None:
        if (conf is not None and not 0.0 <= conf <= 1.0) or not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"onepass: conf must be in [0, 1] and nms_iou in (0, 1], got {conf}, {nms_iou}")
        if (large_face is not None and large_face <= 0) or large_side < MIN_SIDE:
            raise ValueError(f"onepass: large_face must be positive (or None) and large_side at least {MIN_SIDE}, "
                             f"got {large_face}, {large_side}")
        self.large = {"large_face": None if large_face is None else float(large_face), "large_side": int(large_side),
                      "large_box": bool(large_box)}
        self.detector = OnnxDetector(model, threads)
        self.labels = self.detector.labels
        if conf is None:
            conf = self.detector.default_conf
        self.conf, self.nms_iou, self.upscale = float(conf), float(nms_iou), bool(upscale)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        boxes, scores, probs = self.detector.predict(image, self.conf, self.nms_iou, self.upscale, **self.large)
        wh = boxes[:, 2:] - boxes[:, :2]
        keypoints = boxes[:, None, :2] + self.detector.keypoint_template[None] * wh[:, None, :]
        expression = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return Faces(boxes, scores, keypoints, expression=expression, expression_labels=self.detector.labels)

    def close(self) -> None:
        self.detector.close()
