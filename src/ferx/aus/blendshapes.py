"""AU intensity estimates read from MediaPipe blendshapes through the table in `ferx.facs`.

These are estimates, not certified FACS codes: see the module docstring of `ferx.facs`.
"""

from __future__ import annotations

import numpy as np

from ferx.facs import AU_CODES, MESH_PROFILE, au_intensities
from ferx.stages import AU_ESTIMATORS, StageBase
from ferx.types import Faces


@AU_ESTIMATORS.register("blendshapes")
class BlendshapeAUEstimator(StageBase):
    """Fills `Faces.aus` (N, K) on the 0–5 scale from blendshapes and mesh geometry, graded by
    `facs.MESH_PROFILE`."""

    profile = MESH_PROFILE

    needs = frozenset({"landmarks", "blendshapes"})
    provides = frozenset({"aus"})

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.blendshapes is None:
            raise ValueError("the blendshapes AU estimator needs a landmarker stage that outputs blendshapes")
        return faces.with_fields(aus=au_intensities(faces.blendshapes, faces.landmarks), au_codes=AU_CODES,
                                 au_profile=MESH_PROFILE)
