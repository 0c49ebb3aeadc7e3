"""The face verifier: a check that every reported face is a face, after the mesh has confirmed it.

The mesh's face-presence output lets through things that are not faces — a lamp bulb, a screw on a
space suit, a cat's eye, an eye inside a real face (issue 25) — because the mesh model was trained on
crops that held faces. The verifier is a small CNN ferx trains (`python -m ferx.train.verify`) on the
48-px aligned grey crop the mesh gives (`ferx.facecrop`, the crop the expression classifier reads too,
made once per face per frame), with hard negatives mined from face-free photos and from the
detector's own false boxes, parts of faces among them. Its threshold was chosen on validation crops
(the model's sidecar, `threshold`) and can be overridden.

A face it rejects gets NaN landmarks, blendshapes and head pose — the landmarker's own "no face
here" — so the pipeline's policy drops it (or keeps it, unverified, with `keep_unverified`).
"""

from __future__ import annotations

import numpy as np

from ferx.assets import packaged_model
from ferx.facecrop import aligned_crops
from ferx.numeric import input_normalisation
from ferx.stages import VERIFIERS, StageBase
from ferx.types import Faces

DEFAULT_MODEL = "face-verifier"


@VERIFIERS.register("face-verifier")
class FaceVerifier(StageBase):
    """Args:
        model: a shipped model's name or a path to NAME.onnx (with NAME.json beside it).
        threshold: face probability below which a face is rejected; None: the model's own
            (chosen on validation crops, in its sidecar).
        threads: onnxruntime intra-op threads.
    """

    needs = frozenset({"landmarks"})
    provides = frozenset({"landmarks", "blendshapes", "head_pose"})

    def __init__(self, model: str = DEFAULT_MODEL, threshold: float | None = None, threads: int = 1) -> None:
        import onnxruntime as ort  # heavy import stays in the backend

        path, self.meta = packaged_model(model, "face verifier")
        if self.meta.get("kind") != "face-verifier":
            raise ValueError(f"{path}: not a face verifier (kind {self.meta.get('kind')!r})")
        self.threshold = float(self.meta["threshold"] if threshold is None else threshold)
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._normalise = input_normalisation(self.meta, str(path))
        self.size = int(self.meta["input"]["size"])

    def face_probability(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        """(N,) probability that each face is one; NaN where a face has no landmarks."""
        p = np.full(len(faces), np.nan, np.float32)
        ok = np.flatnonzero(faces.has_landmarks) if faces.landmarks is not None else np.zeros(0, int)
        if len(ok):
            x = self._normalise(aligned_crops(image, faces.landmarks[ok], self.size)[:, None])
            p[ok] = self._session.run(["face"], {"image": x})[0].reshape(-1)
        return p

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.landmarks is None:
            raise ValueError("the face verifier reads the aligned crop of each face's mesh: keep a landmarker before it")
        rejected = faces.has_landmarks & ~(self.face_probability(image, faces) >= self.threshold)
        if not rejected.any():
            return faces
        nan = {}
        for name in ("landmarks", "blendshapes", "head_pose"):
            value = getattr(faces, name)
            if value is not None:
                value = value.copy()
                value[rejected] = np.nan
                nan[name] = value
        return faces.with_fields(**nan)

    def close(self) -> None:
        self._session = None
