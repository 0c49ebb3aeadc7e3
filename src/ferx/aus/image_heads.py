"""Image-reading AU heads on onnxruntime: region-restricted heads (`ferx.train.aus.AUHeadNet`) on the
aligned 48×48 grey face crop.

Each head pools the trunk's features inside its own AU region (`ferx.aus.heads.region_masks`, placed
from the mesh landmarks) and the trunk sees 13 px of the crop, so an AU's value depends on its
region only. They are one source among the measures an AU may be read from (`h:AUn` in
`ferx.aus.measures`); `ferx.aus.calibrated` decides, per AU, whether they are used.
"""

from __future__ import annotations

import numpy as np
from ferx.assets import packaged_model
from ferx.aus.heads import GRID, HEAD_CODES, crop_points, region_masks
from ferx.facecrop import aligned_crops
from ferx.numeric import input_normalisation

DEFAULT_MODEL = "au-heads"


class ImageHeads:
    """The head model, run on faces given by their landmarks.

    Args:
        model: a shipped model's name or a path to NAME.onnx (NAME.json beside it).
        threads: onnxruntime intra-op threads.

    Attributes:
        sha256: the model file's sha256 (from its verified sidecar).
        meta: the sidecar.
    """

    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1) -> None:
        import onnxruntime as ort

        path, self.meta = packaged_model(model, "AU model")
        if tuple(self.meta.get("aus", ())) != HEAD_CODES:
            raise ValueError(f"{path}: heads for {self.meta.get('aus')}, this ferx expects {list(HEAD_CODES)}")
        if int(self.meta["input"].get("mask_grid", GRID)) != GRID:
            raise ValueError(f"{path}: mask grid {self.meta['input']['mask_grid']} != {GRID}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._normalise = input_normalisation(self.meta, str(path))
        self.size = int(self.meta["input"]["size"])
        self.sha256 = str(self.meta["sha256"])

    def probabilities(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, K) head probabilities, columns `HEAD_CODES`, for faces with (N, 478, 3) landmarks (all finite)."""
        crops = aligned_crops(image, landmarks, self.size)[:, None]  # the frame's crops, shared with the classifier
        masks = region_masks(np.stack([crop_points(lm, self.size) for lm in landmarks]))
        return self._session.run(["probs"], {"image": self._normalise(crops), "masks": masks})[0]

    def by_code(self, image: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        """AU code → (N,) head probability."""
        p = self.probabilities(image, landmarks)
        return {c: p[:, j] for j, c in enumerate(HEAD_CODES)}

    def close(self) -> None:
        self._session = None
