"""The stage contract and one name registry per stage.

Every stage has the same shape: it takes the frame's RGB image and the faces found so far and
returns them with its fields filled. The detector receives `Faces.empty()`. The pipeline composes
stages through this contract alone, so it never branches on which backend runs:

- `needs` / `provides` name the `Faces` fields a stage reads and fills ("boxes", "landmarks",
  "blendshapes", "aus", "expression", …). The Analyzer checks the chain when it is built, so a
  stage whose input no earlier stage provides is refused with a message naming what is missing,
  instead of failing on the first face. A stage that needs nothing is a source (a detector): it
  runs on every frame; other stages are skipped when there are no faces.
- `notes`: a list the pipeline passes to every call; a stage appends a sentence when something
  about this frame deserves the user's attention (e.g. "the finest detection level was capped").
  Notes end up in `FrameResult.notes`. Per-call state lives there, never on the stage, so one
  stage instance can serve several threads.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from ferx.registry import Registry
from ferx.types import FACE_FIELDS, Faces

#: Field names stages may declare in `needs` / `provides` (attributes of `Faces`).
FIELDS = frozenset(FACE_FIELDS)


@runtime_checkable
class Stage(Protocol):
    """One step of the analysis.

    `process(image, faces, notes)`: image is (H, W, 3) uint8 RGB; returns `faces` with this stage's
    fields filled (a detector returns new faces); may append sentences to `notes`. `close()`
    releases native resources; stages are also context managers. `process` must be safe to call
    from several threads at once.
    """

    needs: ClassVar[frozenset[str]]
    provides: ClassVar[frozenset[str]]

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces: ...

    def close(self) -> None: ...


class StageBase:
    """Small base: context-manager support around `close()`; subclasses set `needs`/`provides`."""

    needs: ClassVar[frozenset[str]] = frozenset()
    provides: ClassVar[frozenset[str]] = frozenset()

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:  # pragma: no cover
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
