"""The stage contract and one name registry per stage.

Every stage has the same shape: it takes the frame's RGB image and the faces found so far and
returns them with its fields filled. The detector receives `Faces.empty()`. The pipeline composes
stages through this contract alone, so it never branches on which backend runs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ferx.registry import Registry
from ferx.types import Faces


@runtime_checkable
class Stage(Protocol):
    """One step of the analysis.

    `process(image, faces)`: image is (H, W, 3) uint8 RGB; returns `faces` with this stage's fields
    filled (a detector returns new faces). `close()` releases native resources; stages are also
    context managers.
    """

    def process(self, image: np.ndarray, faces: Faces) -> Faces: ...

    def close(self) -> None: ...


class StageBase:
    """Small base: context-manager support around `close()`."""

    def process(self, image: np.ndarray, faces: Faces) -> Faces:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> StageBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DETECTORS: Registry[Stage] = Registry("detector")
LANDMARKERS: Registry[Stage] = Registry("landmarker")
AU_ESTIMATORS: Registry[Stage] = Registry("AU estimator")
EXPRESSION_CLASSIFIERS: Registry[Stage] = Registry("expression classifier")
EXPLAINERS: Registry[Stage] = Registry("explainer")
