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

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ferx.facs import AU_CODES, EXPRESSIONS, AUProfile
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
    #: the option `pipeline.with_threads` sets (see StageBase), or None
    threads_option: ClassVar[str | None]
    #: column names of what the stage fills: the AU codes of `aus`, the labels of `expression`
    au_codes: tuple[str, ...]
    labels: tuple[str, ...]
    #: the grades of the AUs it measures (AU estimators; None elsewhere)
    profile: AUProfile | None

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces: ...

    def close(self) -> None: ...


class StageBase:
    """Small base: context-manager support around `close()`; subclasses set `needs`/`provides`,
    and the column names of what they fill where these are not ferx's defaults."""

    needs: ClassVar[frozenset[str]] = frozenset()
    provides: ClassVar[frozenset[str]] = frozenset()
    #: the constructor option that sets the CPU threads one call uses, for stages whose cost should
    #: follow the cores a process has (`pipeline.with_threads`); None: the stage keeps its default
    threads_option: ClassVar[str | None] = None
    au_codes: tuple[str, ...] = AU_CODES
    labels: tuple[str, ...] = EXPRESSIONS
    profile: AUProfile | None = None

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
VERIFIERS: Registry[Stage] = Registry("face verifier")
AU_ESTIMATORS: Registry[Stage] = Registry("AU estimator")
EXPRESSION_CLASSIFIERS: Registry[Stage] = Registry("expression classifier")
EXPLAINERS: Registry[Stage] = Registry("explainer")


@dataclass(frozen=True)
class Slot:
    """One place in the pipeline: its name in timings and notes, its `AnalyzerConfig` field, its registry."""

    name: str
    config_field: str
    registry: Registry[Stage]


#: The pipeline's stages in the order they run: the one mapping of slot ↔ config field ↔ registry.
SLOTS: tuple[Slot, ...] = (
    Slot("detect", "detector", DETECTORS),
    Slot("landmarks", "landmarker", LANDMARKERS),
    Slot("verify", "verifier", VERIFIERS),
    Slot("aus", "aus", AU_ESTIMATORS),
    Slot("expression", "expression", EXPRESSION_CLASSIFIERS),
    Slot("explain", "explain", EXPLAINERS),
)


@dataclass(frozen=True)
class StageInfo:
    """What one configured stage is: slot, backend name, options, and its contract."""

    slot: str
    backend: str
    options: dict[str, Any]
    needs: frozenset[str]
    provides: frozenset[str]

    def to_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "backend": self.backend, "options": dict(self.options),
                "needs": sorted(self.needs), "provides": sorted(self.provides)}


@dataclass(frozen=True)
class PipelineInfo:
    """What an analyzer produces, known before any input: its stages, the `Faces` fields they fill,
    the column names of AUs and expression, and the AU estimator's grades. Writers take their
    columns from it (so an input without a face gives the same columns as one with faces); the
    service shows it at /v1/models.

    Attributes:
        stages: the configured stages in order.
        au_codes: columns of `aus` (None without an AU stage).
        expression_labels: columns of `expression` (None without an expression stage).
        au_profile: the AU estimator's grades (None without one, or when it has none).
    """

    stages: tuple[StageInfo, ...]
    au_codes: tuple[str, ...] | None = None
    expression_labels: tuple[str, ...] | None = None
    au_profile: AUProfile | None = field(default=None, compare=False)

    @property
    def provides(self) -> frozenset[str]:
        """Every `Faces` field some stage fills."""
        return frozenset().union(*(s.provides for s in self.stages))

    @property
    def backends(self) -> dict[str, str]:
        """slot → backend name."""
        return {s.slot: s.backend for s in self.stages}

    def empty_faces(self) -> Faces:
        """No face, with every field the stages fill present as an empty array, and the AU estimator's
        profile: tables and JSON of a frame without a face then have the columns and the `au_profile`
        of a frame with faces."""
        return Faces.empty(self.provides, self.au_codes, self.expression_labels, self.au_profile)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [s.to_dict() for s in self.stages],
            "au_codes": None if self.au_codes is None else list(self.au_codes),
            "expression_labels": None if self.expression_labels is None else list(self.expression_labels),
            "au_profile": None if self.au_profile is None else self.au_profile.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PipelineInfo:
        stages = tuple(StageInfo(s["slot"], s["backend"], dict(s.get("options") or {}), frozenset(s["needs"]),
                                 frozenset(s["provides"])) for s in d["stages"])
        profile = d.get("au_profile")
        return cls(stages, None if d.get("au_codes") is None else tuple(d["au_codes"]),
                   None if d.get("expression_labels") is None else tuple(d["expression_labels"]),
                   None if profile is None else AUProfile.from_dict(profile))
