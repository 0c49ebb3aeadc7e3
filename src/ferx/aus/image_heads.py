"""AU estimates that read the image: region-restricted heads (`ferx.train.aus.AUHeadNet`) on the
aligned face crop, run with onnxruntime, fused per AU with the mesh/blendshape estimate.

Each head pools the trunk's features inside its own AU region (`ferx.aus.heads.region_masks`, placed
from the mesh landmarks) and the trunk sees 13 px of the 48-px crop, so an AU's value depends on its
region only. Trained weakly from FER+ vote distributions through P(AU | expression), never from the
classifier's output. The sidecar (NAME.json) holds, measured on lfw-expressions half A + FER+ val:
per AU the calibration (head probability at rest / at full intensity), which estimate is used
("image", "mesh", or "mean" of both — the one that separates the AU's expressions from neutral faces
best) and the grade of the result, and the AU-evidence scoring chosen for these AUs. AUs without a
head (AU18, AU22, AU43) stay the mesh's. The stage's `profile` (`facs.AUProfile`) carries the grades
and scoring onto the faces, so the explainer grades these AUs as measured for this estimator.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ferx.assets import packaged_model
from ferx.aus.heads import GRID, HEAD_CODES, crop_points, intensity, region_masks
from ferx.facecrop import aligned_crop
from ferx.facs import AU_CODES, AU_VALIDITY, MESH_PROFILE, AUProfile, au_intensities
from ferx.numeric import input_normalisation
from ferx.stages import AU_ESTIMATORS, StageBase
from ferx.types import Faces

DEFAULT_MODEL = "au-heads"


@AU_ESTIMATORS.register("image-heads")
class ImageHeadAUEstimator(StageBase):
    """Fills `Faces.aus` (N, K) on the 0–5 scale: image heads fused with the blendshape/geometry estimate.

    Args:
        model: a shipped model's name or a path to NAME.onnx (NAME.json beside it).
        threads: onnxruntime intra-op threads.
        fusion: "sidecar" (the per-AU choice measured on validation data, default), or "image" /
            "mesh" / "mean" for every AU with a head (for measurements).

    Attributes:
        profile: the grades (measured AUC per AU on lfw half A + FER+ val, of the estimate this
            `fusion` uses) and the AU-evidence scoring, put on every face it fills.
    """

    needs = frozenset({"landmarks", "blendshapes"})
    provides = frozenset({"aus"})

    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1, fusion: str = "sidecar") -> None:
        import onnxruntime as ort

        path, self.meta = packaged_model(model, "AU model")
        if tuple(self.meta.get("aus", ())) != HEAD_CODES:
            raise ValueError(f"{path}: heads for {self.meta.get('aus')}, this ferx expects {list(HEAD_CODES)}")
        if fusion not in ("sidecar", "image", "mesh", "mean"):
            raise ValueError(f"fusion must be sidecar, image, mesh or mean; got {fusion!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._normalise = input_normalisation(self.meta, str(path))
        self.size = int(self.meta["input"]["size"])
        if int(self.meta["input"].get("mask_grid", GRID)) != GRID:
            raise ValueError(f"{path}: mask grid {self.meta['input']['mask_grid']} != {GRID}")
        self._rest = np.array(self.meta["calibration"]["rest"], np.float32)
        self._full = np.array(self.meta["calibration"]["full"], np.float32)
        use = {c: (self.meta["fusion"][c] if fusion == "sidecar" else fusion) for c in HEAD_CODES}
        self._cols = np.array([AU_CODES.index(c) for c in HEAD_CODES])
        self._w_image = np.array([{"image": 1.0, "mesh": 0.0, "mean": 0.5}[use[c]] for c in HEAD_CODES], np.float32)
        self.profile = _profile(model, self.meta, fusion)

    def head_probabilities(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, K) head probabilities for faces with (N, 478, 3) landmarks (all finite)."""
        grey = Image.fromarray(image).convert("L")
        crops = np.stack([aligned_crop(grey, lm, self.size) for lm in landmarks])[:, None]
        masks = region_masks(np.stack([crop_points(lm, self.size) for lm in landmarks]))
        return self._session.run(["probs"], {"image": self._normalise(crops), "masks": masks})[0]

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.blendshapes is None or faces.landmarks is None:
            raise ValueError("the image-heads AU estimator needs a landmarker stage that outputs blendshapes")
        aus = au_intensities(faces.blendshapes, faces.landmarks).astype(np.float32)
        ok = np.flatnonzero(faces.has_landmarks)
        if len(ok):
            head = intensity(self.head_probabilities(image, faces.landmarks[ok]), self._rest, self._full)
            mesh = aus[np.ix_(ok, self._cols)]
            aus[np.ix_(ok, self._cols)] = self._w_image * head + (1 - self._w_image) * mesh
        return faces.with_fields(aus=aus, au_codes=AU_CODES, au_profile=self.profile)

    def close(self) -> None:
        self._session = None


def _profile(model: str, meta: dict, fusion: str) -> AUProfile:
    """The estimator's AUProfile from its sidecar: per head AU the validity of the estimate `fusion`
    uses (the sidecar's choice, or the named one), the mesh's for AUs without a head."""
    validity = {n: v for n, v in AU_VALIDITY.items() if f"AU{n}" not in HEAD_CODES}
    for code in HEAD_CODES:  # a model exported without measurements leaves its AUs ungraded
        v = (meta.get("validity", {}).get(code) if fusion == "sidecar"
             else meta.get("per_au", {}).get(code, {}).get(fusion, {}).get("validity"))
        if v is not None:
            validity[int(code[2:])] = float(v)
    # the sidecar's scoring was chosen for its own per-AU fusion; any other fusion scores as the mesh
    evidence = meta.get("evidence", {}) if fusion == "sidecar" else {}
    # Heads that read the same thing as another head are no separate measurement of their AU
    # (`ferx.train.aus.indistinct_heads`); their cap holds where the image head alone is used.
    caps = {int(c[2:]): r["cap"] for c, r in meta.get("grade_caps", {}).items()
            if (meta["fusion"][c] if fusion == "sidecar" else fusion) == "image"}
    return AUProfile(f"image-heads:{model}" + ("" if fusion == "sidecar" else f":{fusion}"), validity,
                     float(evidence.get("neutral_evidence", MESH_PROFILE.neutral_evidence)),
                     float(evidence.get("temperature", MESH_PROFILE.temperature)), caps)
