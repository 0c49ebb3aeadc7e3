"""Expression classifier trained by ferx (AU-guided CNN), run with onnxruntime.

The model sees each face as ferx.facecrop frames it (grey 48×48, eyes on the FER+ template), so
it needs the landmarker's mesh. Besides the probabilities it returns, per face, the class
activation map of its top label (clipped at 0, scaled to a maximum of 1) as `expression_maps`
(N, 6, 6), in the aligned-crop frame: row 0 is the forehead, the eyes lie on row ≈ 2.3.
Models ship in ferx/assets/models as NAME.onnx + NAME.json (labels, input convention, sha256,
training metrics, and optionally `calibration.temperature`); see docs/model-card.md.

Calibration: where the sidecar has a temperature T (fitted by NLL on FER+ Valid, see
benchmarks/calibrate_classifier.py), the returned probabilities are softmax(log p / T) — the
argmax, hence the label, is unchanged; only the confidences are rescaled. `calibrated=False` gives
the network's raw probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferx.assets import packaged_model
from ferx.calibration import apply_temperature
from ferx.facecrop import aligned_crops
from ferx.numeric import input_normalisation
from ferx.stages import EXPRESSION_CLASSIFIERS, StageBase
from ferx.types import Faces

DEFAULT_MODEL = "ferplus-resnet-guided"


def model_files(model: str) -> tuple[Path, dict]:
    """Resolve a model name (in ferx/assets/models) or a path to NAME.onnx; verify its sha256."""
    return packaged_model(model, "expression model")


@EXPRESSION_CLASSIFIERS.register("onnx-classifier")
class OnnxExpressionClassifier(StageBase):
    """Args:
        model: a shipped model's name or a path to NAME.onnx (with NAME.json beside it).
        threads: onnxruntime intra-op threads.
        batch_size: faces per run.
        flip_average: also classify each crop mirrored and average probabilities and (mirrored
            back) CAMs. +0.9 point on FER+ test (82.7 → 83.5 %) for about twice the model time,
            so off by default; mirror-symmetric output is a side benefit.
        calibrated: apply the sidecar's temperature (`calibration.temperature`) to the
            probabilities (after flip averaging); False, or a model without one, gives the raw
            probabilities.
        prior: "training" (default) keeps the label prior the model learnt from its training data;
            "uniform" divides it out (the sidecar's `train_prior`: label frequencies times the
            class weights of training) and renormalises, for data whose labels are balanced. It
            raises recall of rare labels at a large cost in accuracy (docs/results.md, issue 14).
    """

    needs = frozenset({"landmarks"})
    provides = frozenset({"expression", "expression_maps"})

    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1, batch_size: int = 64,
                 flip_average: bool = False, calibrated: bool = True, prior: str = "training") -> None:
        import onnxruntime as ort  # heavy import stays in the backend

        path, self.meta = model_files(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.labels = tuple(self.meta["labels"])
        self._normalise = input_normalisation(self.meta, str(path))
        self.size = int(self.meta["input"]["size"])
        self.batch_size = int(batch_size)
        self.flip_average = bool(flip_average)
        t = (self.meta.get("calibration") or {}).get("temperature")
        if t is not None and not (np.isfinite(t) and t > 0):
            raise ValueError(f"{path.with_suffix('.json')}: calibration.temperature must be > 0, got {t!r}")
        #: the temperature applied to the probabilities (None: raw probabilities)
        self.temperature = float(t) if (calibrated and t is not None) else None
        if prior not in ("training", "uniform"):
            raise ValueError(f"prior must be 'training' or 'uniform'; got {prior!r}")
        #: divisor of the probabilities (None: the training prior is kept)
        self.prior: np.ndarray | None = None
        if prior == "uniform":
            train_prior = self.meta.get("train_prior")
            if not train_prior or len(train_prior) != len(self.labels):
                raise ValueError(f"{path.with_suffix('.json')}: prior 'uniform' needs the model's train_prior "
                                 f"(one value per label); this model has none")
            self.prior = np.asarray(train_prior, np.float32)
            if not (np.isfinite(self.prior).all() and (self.prior > 0).all()):
                raise ValueError(f"{path.with_suffix('.json')}: train_prior must be positive for every label "
                                 f"(a label never seen in training cannot be re-weighted); got {train_prior}")

    def crops(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """(N, 1, 48, 48) uint8 aligned grey crops (what the network sees)."""
        return aligned_crops(image, faces.landmarks, self.size)[:, None]  # shared with the AU heads (facecrop)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.landmarks is None:
            raise ValueError("the onnx-classifier aligns faces on their landmarks: keep a landmarker stage before it")
        n = len(faces)
        probs = np.full((n, len(self.labels)), np.nan, np.float32)
        maps = None
        ok = np.flatnonzero(faces.has_landmarks)
        if len(ok):
            x = self._normalise(self.crops(image, faces[ok]))
            p, cam = self._run(x)
            if self.flip_average:
                pf, camf = self._run(np.ascontiguousarray(x[..., ::-1]))
                p, cam = (p + pf) / 2, (cam + camf[..., ::-1]) / 2
            p = p / p.sum(axis=1, keepdims=True)
            if self.temperature is not None:
                p = apply_temperature(p, self.temperature)
            if self.prior is not None:  # after calibration: the prior is divided out of calibrated probabilities
                p = p / self.prior
                p = p / p.sum(axis=1, keepdims=True)
            probs[ok] = p
            top = cam[np.arange(len(ok)), p.argmax(1)].clip(min=0)
            top /= np.maximum(top.max(axis=(1, 2), keepdims=True), 1e-6)
            maps = np.full((n,) + top.shape[1:], np.nan, np.float32)
            maps[ok] = top
        return faces.with_fields(expression=probs, expression_maps=maps, expression_labels=self.labels)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outs = [self._session.run(["probs", "cam"], {"image": x[i : i + self.batch_size]})
                for i in range(0, len(x), self.batch_size)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    def close(self) -> None:
        self._session = None
