"""The result types that flow through the pipeline.

`Faces` holds N faces as aligned arrays (row i of every array is face i). Stages fill fields; nothing
downstream re-parses text or nested lists. `FrameResult` wraps the faces of one image or video frame
with where it came from. Both serialise to JSON and back without loss (up to float rounding) and
convert to pandas at the edge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from ferx.facs import AU_CODES, BLENDSHAPES, EXPRESSIONS, OCCURRENCE_THRESHOLD, AUProfile, intensity_band, profile_of

N_LANDMARKS = 478
N_KEYPOINTS = 5
#: Keypoint order (image-left/right as seen in the picture, like InsightFace's 5 points).
KEYPOINT_NAMES: tuple[str, ...] = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")
HEAD_POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll")

#: Where an explanation's conclusion came from.
LABEL_SOURCES: tuple[str, ...] = ("classifier", "combined", "au-evidence", "ground-truth")

#: The per-face arrays of `Faces`, in one order used everywhere (indexing, stacking, stage contracts).
ARRAY_FIELDS: tuple[str, ...] = (
    "boxes", "scores", "keypoints", "landmarks", "blendshapes", "head_pose", "aus",
    "expression", "expression_maps",
)
#: Every per-face field of `Faces` a stage may read or fill (`Stage.needs` / `Stage.provides`).
FACE_FIELDS: tuple[str, ...] = (*ARRAY_FIELDS, "explanations")


def _as_f32(name: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"Faces.{name} must have shape {want}, got {arr.shape}")
    return arr


@dataclass(frozen=True)
class AUObservation:
    """One active AU as an explanation reports it (all values measured, nothing inferred).

    Attributes:
        code: "AU12".
        name: FACS name.
        intensity: estimate on the 0–5 scale.
        band: FACS intensity letter A–E.
        region: facial region from the AU table.
        evidence_for: emotions whose prototype lists this AU, strongest weight first.
        asymmetry: |left − right| on the 0–5 scale for AUs read from a left/right pair, else 0.
    """

    code: str
    name: str
    intensity: float
    band: str
    region: str
    evidence_for: tuple[str, ...] = ()
    asymmetry: float = 0.0


@dataclass(frozen=True)
class EmotionEvidence:
    """What the AUs say about one label.

    Attributes:
        label: expression label.
        evidence: AU evidence score (prototype match minus opposing AUs; neutral has a fixed level).
        probability: softmax of the evidence scores over all labels (AU evidence alone).
        supporting: active AUs of the label's prototype.
        opposing: active AUs that argue against the label.
        missing: defining AUs of the prototype that are absent.
    """

    label: str
    evidence: float
    probability: float
    supporting: tuple[str, ...] = ()
    opposing: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """The chain of thought for one face: structured evidence plus the text built from it.

    The three sections of `text` (key observations, overall emotional interpretation, conclusion)
    are written from these fields only, so every statement can be checked against them
    (`ferx.explain.validate`).

    Attributes:
        observations: active AUs, strongest first.
        patterns: keys of the AU interactions found that bear on the conclusion (`facs.INTERACTIONS`).
        compounds: compound expressions (Du et al. 2014) whose AUs are all strongly present and both
            of whose emotions have AU support, one of them the conclusion.
        evidence: every label's AU evidence, strongest first.
        au_label: the label the AU evidence alone picks.
        au_secondary: the runner-up emotion by AU evidence (None when it has no evidence).
        classifier_label: the expression stage's top label (None without an expression stage).
        classifier_probability: its probability.
        agreement: classifier_label == au_label (None without a classifier).
        label: the conclusion: the decision rule's label (`ferx.explain.cot.decide`), or the
            ground truth for instruction data.
        probability: the conclusion's probability under the decision rule.
        label_source: one of `LABEL_SOURCES`.
        caveats: flags such as "weak_evidence", "low_confidence", "uncertain", "disagreement",
            "opposing_aus", "label_differs_from_au" (see `ferx.explain.cot`).
        text: the explanation as prose, three sections.
        text_source: "template" or "llm".
        language: language code of `text`.
        notes: remarks on how the text was made (e.g. why an LLM reply was rejected).
        runner_up, runner_up_probability: the decision rule's second label and its probability
            (None for instruction data); "uncertain" means the two are within the rule's margin and
            the AU evidence names another label than the first (`ferx.explain.cot.decide`).
    """

    observations: tuple[AUObservation, ...]
    patterns: tuple[str, ...]
    compounds: tuple[str, ...]
    evidence: tuple[EmotionEvidence, ...]
    au_label: str
    au_secondary: str | None
    classifier_label: str | None
    classifier_probability: float | None
    agreement: bool | None
    label: str
    probability: float | None
    label_source: str
    caveats: tuple[str, ...]
    text: str
    text_source: str = "template"
    language: str = "en"
    notes: tuple[str, ...] = ()
    runner_up: str | None = None
    runner_up_probability: float | None = None

    def __post_init__(self) -> None:
        if self.label_source not in LABEL_SOURCES:
            raise ValueError(f"Explanation.label_source must be one of {LABEL_SOURCES}, got {self.label_source!r}")

    def evidence_for(self, label: str) -> EmotionEvidence | None:
        return next((e for e in self.evidence if e.label == label), None)

    @property
    def active_codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.observations)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Explanation:
        def tup(x: Any) -> tuple[Any, ...]:
            return tuple(x or ())

        kwargs = dict(d)
        kwargs["observations"] = tuple(
            AUObservation(**{**o, "evidence_for": tup(o.get("evidence_for"))}) for o in d["observations"]
        )
        kwargs["evidence"] = tuple(
            EmotionEvidence(**{**e, **{k: tup(e.get(k)) for k in ("supporting", "opposing", "missing")}})
            for e in d["evidence"]
        )
        for k in ("patterns", "compounds", "caveats", "notes"):
            kwargs[k] = tup(d.get(k))
        return cls(**kwargs)


@dataclass(frozen=True, eq=False)
class Faces:
    """N detected faces as aligned arrays.

    Attributes:
        boxes: (N, 4) face boxes, x1 y1 x2 y2 in image pixels.
        scores: (N,) detection confidence in [0, 1].
        keypoints: (N, 5, 2) points in `KEYPOINT_NAMES` order, image pixels.
        landmarks: (N, 478, 3) MediaPipe face mesh; x, y in image pixels, z relative depth on the
            same scale as x (smaller is nearer the camera). NaN rows: landmarker found no face.
        blendshapes: (N, 52) scores in [0, 1], columns `BLENDSHAPES`.
        head_pose: (N, 3) yaw, pitch, roll in degrees (see docs/architecture.md for the signs).
        aus: (N, K) AU intensity estimates on the FACS 0–5 scale, columns `au_codes`.
        expression: (N, C) probabilities over `expression_labels` (rows sum to 1).
        expression_maps: (N, h, w) optional spatial evidence (CAM / attention) of the classifier.
        au_codes: column names of `aus`.
        expression_labels: column names of `expression`.
        explanations: per face, the chain-of-thought `Explanation` (None for a face that could not
            be explained, e.g. without AUs); None when no explain stage ran.
        au_profile: how well the estimator that filled `aus` measures each AU, and how its AU
            evidence is scored (`facs.AUProfile`); None reads as the mesh estimator's
            (`facs.MESH_PROFILE`, `grading`).
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    landmarks: np.ndarray | None = None
    blendshapes: np.ndarray | None = None
    head_pose: np.ndarray | None = None
    aus: np.ndarray | None = None
    expression: np.ndarray | None = None
    expression_maps: np.ndarray | None = None
    au_codes: tuple[str, ...] = AU_CODES
    expression_labels: tuple[str, ...] = EXPRESSIONS
    explanations: tuple[Explanation | None, ...] | None = None
    au_profile: AUProfile | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: normalise arrays once, here
        if self.au_profile is not None and not isinstance(self.au_profile, AUProfile):
            raise TypeError(f"Faces.au_profile must be a facs.AUProfile, got {type(self.au_profile).__name__}")
        boxes = _as_f32("boxes", self.boxes, (None, 4))
        n = boxes.shape[0]
        set_(self, "boxes", boxes)
        set_(self, "scores", _as_f32("scores", self.scores, (n,)))
        set_(self, "keypoints", _as_f32("keypoints", self.keypoints, (n, N_KEYPOINTS, 2)))
        set_(self, "au_codes", tuple(self.au_codes))
        set_(self, "expression_labels", tuple(self.expression_labels))
        specs: dict[str, tuple[int | None, ...]] = {
            "landmarks": (n, N_LANDMARKS, 3),
            "blendshapes": (n, len(BLENDSHAPES)),
            "head_pose": (n, 3),
            "aus": (n, len(self.au_codes)),
            "expression": (n, len(self.expression_labels)),
            "expression_maps": (n, None, None),
        }
        for name, shape in specs.items():
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _as_f32(name, value, shape))
        if self.explanations is not None:
            expl = tuple(self.explanations)
            if len(expl) != n or not all(e is None or isinstance(e, Explanation) for e in expl):
                raise ValueError(f"Faces.explanations must hold {n} Explanation-or-None items, got {len(expl)}")
            set_(self, "explanations", expl)
        if n and not np.all(np.isfinite(boxes)):
            raise ValueError("Faces.boxes must be finite")
        if n and np.any(boxes[:, 2:] < boxes[:, :2]):
            raise ValueError("Faces.boxes must be x1 y1 x2 y2 with x2 >= x1 and y2 >= y1")
        if self.expression is not None and n:
            sums = np.nansum(self.expression, axis=1)
            ok = np.isnan(self.expression).all(axis=1) | (np.abs(sums - 1) < 1e-3)
            if not ok.all():
                raise ValueError("Faces.expression rows must be probabilities summing to 1")

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def empty(cls, fields: Iterable[str] = (), au_codes: tuple[str, ...] | None = None,
              expression_labels: tuple[str, ...] | None = None, au_profile: AUProfile | None = None) -> Faces:
        """No face; with `fields` (names of `FACE_FIELDS`) present as empty arrays, so that tables
        and JSON of a frame without a face have the columns of a frame with faces, and with "aus"
        among them the AU estimator's `au_profile` (a tryout found it missing from face-free answers)."""
        wanted, codes, labels = set(fields), au_codes or AU_CODES, expression_labels or EXPRESSIONS
        shapes = {"landmarks": (0, N_LANDMARKS, 3), "blendshapes": (0, len(BLENDSHAPES)), "head_pose": (0, 3),
                  "expression_maps": (0, 0, 0), "aus": (0, len(codes)), "expression": (0, len(labels))}
        empty: dict[str, Any] = {name: np.zeros(shape, np.float32) for name, shape in shapes.items() if name in wanted}
        if "explanations" in wanted:
            empty["explanations"] = ()
        return cls(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, N_KEYPOINTS, 2)), **empty, au_codes=codes,
                   expression_labels=labels, au_profile=au_profile if "aus" in wanted else None)

    def with_fields(self, **changes: Any) -> Faces:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    @classmethod
    def concat(cls, parts: list[Faces]) -> Faces:
        """The faces of several stage runs on one frame, stacked in order. An optional field that
        some parts lack is NaN in their rows; expression maps of different sizes cannot be stacked
        and are left out (none is better than a wrong one). Column names and the AU profile are
        the first part's (the first with AUs for the profile)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        out: dict[str, Any] = {}
        for name in ARRAY_FIELDS:
            values = [getattr(p, name) for p in parts]
            present = [v for v in values if v is not None]
            if not present or (name == "expression_maps" and len({v.shape[1:] for v in present}) > 1):
                continue
            tail = present[0].shape[1:]
            out[name] = np.concatenate(
                [v if v is not None else np.full((len(p), *tail), np.nan, np.float32) for v, p in zip(values, parts)]
            )
        if any(p.explanations is not None for p in parts):
            out["explanations"] = tuple(e for p in parts for e in (p.explanations or (None,) * len(p)))
        profile = next((p.au_profile for p in parts if p.aus is not None), None)
        first = parts[0]
        return cls(**out, au_codes=first.au_codes, expression_labels=first.expression_labels, au_profile=profile)

    # -- container protocol ----------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | list[int] | list[bool]) -> Faces:
        """Select faces by boolean mask, integer indices, slice or a single integer: a new `Faces`,
        whose faces `to_pandas` numbers from 0 (filter `FrameResult.to_pandas()` to keep the numbers
        of the JSON and the rows)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.asarray(index) if not isinstance(index, slice) else index
        if isinstance(idx, np.ndarray) and idx.dtype == bool and idx.shape != (len(self),):
            raise IndexError(f"boolean mask of shape {idx.shape} for {len(self)} faces")
        changes = {
            name: getattr(self, name)[idx]
            for name in ARRAY_FIELDS
            if getattr(self, name) is not None
        }
        if self.explanations is not None:
            rows = np.arange(len(self))[idx]
            changes["explanations"] = tuple(self.explanations[int(i)] for i in np.atleast_1d(rows))
        return replace(self, **changes)

    def __iter__(self) -> Iterator[Faces]:
        for i in range(len(self)):
            yield self[i]

    # -- derived views -------------------------------------------------------------------------
    @property
    def area(self) -> np.ndarray:
        """(N,) box areas in square pixels."""
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])

    def largest_rows(self, k: int) -> np.ndarray:
        """Row indices of the `k` largest faces by box area, in their original order (all rows
        when there are at most `k`)."""
        if k >= len(self):
            return np.arange(len(self))
        return np.sort(np.argsort(-self.area)[: max(0, k)])

    def largest(self, k: int) -> Faces:
        """The `k` largest faces by box area, in their original order."""
        return self[self.largest_rows(k)]

    @property
    def labels(self) -> np.ndarray:
        """(N,) top expression label per face, an object array of str (None where no expression was
        scored), so that it indexes and compares like every other field: `faces[faces.labels == "happiness"]`."""
        out = np.full(len(self), None, dtype=object)
        if self.expression is not None:
            for i, row in enumerate(self.expression):
                if not np.isnan(row).all():
                    out[i] = self.expression_labels[int(np.nanargmax(row))]
        return out

    def __repr__(self) -> str:
        """One line: the count, each face's label and confidence, the fields filled (the arrays
        themselves are attributes: `faces.boxes`, `faces.aus`, …)."""
        filled = [name for name in FACE_FIELDS if getattr(self, name) is not None]
        shown = ", ".join(  # unlabelled faces (no expression stage) are only counted: "face, face, …" said nothing
            "unlabelled" if lab is None else f"{lab} {conf:.2f}" for lab, conf in zip(self.labels[:8], self.confidences[:8])
        )
        more = f", … {len(self) - 8} more" if len(self) > 8 else ""
        listed = len(self) and self.expression is not None
        faces = f"{len(self)} face{'' if len(self) == 1 else 's'}" + (f": {shown}{more}" if listed else "")
        return f"Faces({faces}; fields: {' '.join(filled)})"

    def final_label(self, k: int) -> tuple[str | None, float, bool]:
        """Face k's label, probability and whether it is uncertain, as its explanation concludes them
        (the decision rule of `ferx.explain.cot.decide`), else the expression stage's top class: what
        every display of a face names (report, annotated image), so that none contradicts the text."""
        e = self.explanations[k] if self.explanations is not None else None
        if e is not None and e.probability is not None and e.label_source != "ground-truth":
            return e.label, float(e.probability), "uncertain" in e.caveats
        return self.labels[k], float(self.confidences[k]), False

    @property
    def confidences(self) -> np.ndarray:
        """(N,) probability of the top label (NaN where no expression)."""
        if self.expression is None:
            return np.full(len(self), np.nan, np.float32)
        out = np.full(len(self), np.nan, np.float32)
        valid = ~np.isnan(self.expression).all(axis=1)
        out[valid] = self.expression[valid].max(axis=1)
        return out

    @property
    def au_occurrence(self) -> np.ndarray | None:
        """(N, K) bool: intensity at or above band A."""
        return None if self.aus is None else self.aus >= OCCURRENCE_THRESHOLD

    @property
    def grading(self) -> AUProfile:
        """The AU profile the AUs are graded and scored with (`au_profile`, else the mesh's)."""
        return profile_of(self.au_profile)

    @property
    def has_landmarks(self) -> np.ndarray:
        """(N,) bool: the landmarker found this face."""
        if self.landmarks is None:
            return np.zeros(len(self), bool)
        return ~np.isnan(self.landmarks).any(axis=(1, 2))

    # -- serialisation -------------------------------------------------------------------------
    def to_records(self, *, landmarks: bool = True, decimals: int = 4) -> list[dict[str, Any]]:
        """One JSON-ready dict per face (NaN → None)."""

        def r(x: Any) -> Any:
            return _round(x, decimals)

        records = []
        labels = self.labels
        for i in range(len(self)):
            rec: dict[str, Any] = {
                "box": r(self.boxes[i]),
                "score": r(self.scores[i]),
                "keypoints": dict(zip(KEYPOINT_NAMES, r(self.keypoints[i]))),
            }
            if self.expression is not None:
                probs = self.expression[i]
                rec["expression"] = {
                    "label": labels[i],
                    "probabilities": dict(zip(self.expression_labels, r(probs))),
                }
            if self.aus is not None:
                # the reliability grade travels with each value, so a reader of the JSON knows which
                # AUs this estimator measures well and which it cannot measure (its facs.AUProfile)
                grading = self.grading
                rec["aus"] = {
                    code: {"intensity": r(v), "band": intensity_band(float(v)), "reliability": grading.grade(code)}
                    for code, v in zip(self.au_codes, self.aus[i])
                }
            if self.head_pose is not None:
                rec["head_pose"] = dict(zip(HEAD_POSE_NAMES, r(self.head_pose[i])))
            if self.blendshapes is not None:
                rec["blendshapes"] = dict(zip(BLENDSHAPES, r(self.blendshapes[i])))
            if landmarks and self.landmarks is not None:
                rec["landmarks"] = _round(self.landmarks[i], 2)
            if self.expression_maps is not None:
                rec["expression_map"] = r(self.expression_maps[i])
            if self.explanations is not None:
                e = self.explanations[i]
                rec["explanation"] = None if e is None else e.to_dict()
            records.append(rec)
        return records

    @classmethod
    def from_records(
        cls,
        records: list[dict[str, Any]],
        *,
        au_codes: tuple[str, ...] | None = None,
        expression_labels: tuple[str, ...] | None = None,
        au_profile: AUProfile | None = None,
        fields: Iterable[str] = (),
    ) -> Faces:
        """Inverse of `to_records` (landmarks must have been included to come back; the AU profile
        is the frame's, `FrameResult.to_dict`). `fields`: those of a frame without a face."""
        if not records:
            return cls.empty(fields, au_codes, expression_labels, au_profile)
        first = records[0]
        labels = expression_labels or tuple(first.get("expression", {}).get("probabilities", EXPRESSIONS))
        codes = au_codes or tuple(first.get("aus", AU_CODES))

        def col(key: str, get: Any) -> np.ndarray | None:
            if key not in first:
                return None
            return np.array([_unnone(get(rec[key])) for rec in records], dtype=np.float32)

        return cls(
            boxes=np.array([_unnone(rec["box"]) for rec in records], np.float32),
            scores=np.array([_unnone(rec["score"]) for rec in records], np.float32),
            keypoints=np.array(
                [[_unnone(rec["keypoints"][k]) for k in KEYPOINT_NAMES] for rec in records], np.float32
            ),
            landmarks=col("landmarks", lambda v: v),
            blendshapes=col("blendshapes", lambda v: [v[n] for n in BLENDSHAPES]),
            head_pose=col("head_pose", lambda v: [v[n] for n in HEAD_POSE_NAMES]),
            aus=col("aus", lambda v: [v[c]["intensity"] for c in codes]),
            expression=col("expression", lambda v: [v["probabilities"][lab] for lab in labels]),
            expression_maps=col("expression_map", lambda v: v),
            au_codes=codes,
            expression_labels=labels,
            au_profile=au_profile if "aus" in first else None,
            explanations=(
                tuple(None if rec.get("explanation") is None else Explanation.from_dict(rec["explanation"]) for rec in records)
                if "explanation" in first
                else None
            ),
        )

    def to_pandas(self, *, landmarks: bool = False) -> Any:
        """One row per face: `face` and the face columns of ferx's one table (`ferx.table`): box,
        score, label, confidence, probabilities, AU intensities, head pose, blendshapes, and with
        explanations the AU-evidence label, agreement, explanation text and JSON; with `landmarks`,
        a `landmarks` column (478 × x, y, z per face). Fields the faces lack have no columns; faces
        from an Analyzer hold every field its stages fill, also when there is no face."""
        from ferx.table import TableLayout, to_pandas

        layout = TableLayout.of_faces(self, landmarks=landmarks)
        values = layout.face_values(self)
        values["face"] = np.arange(len(self))
        names = ["face", *(c.name for c in layout.face_columns)] + (["landmarks"] if layout.landmarks else [])
        return to_pandas(layout, values, names)


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded image ready for analysis.

    Attributes:
        image: (H, W, 3) uint8 RGB, C-contiguous.
        source: path, URL or caller-given name.
        index: frame index within the source (0 for a still image).
        timestamp: seconds from the start of a video, None for a still image.
    """

    image: np.ndarray
    source: str = "<array>"
    index: int = 0
    timestamp: float | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(
                f"Frame.image must be an (H, W, 3) uint8 RGB array, got {getattr(img, 'shape', type(img))} "
                f"{getattr(img, 'dtype', '')}; use ferx.load_image() to convert other inputs"
            )
        object.__setattr__(self, "image", np.ascontiguousarray(img))

    def __repr__(self) -> str:
        when = "" if self.timestamp is None else f", timestamp={self.timestamp:.3f}"
        return f"Frame(source={self.source!r}, {self.width}x{self.height}, index={self.index}{when})"

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, eq=False)
class FrameResult:
    """The faces of one image or video frame and where they came from.

    Attributes:
        source: path, URL or a caller-given name of the input.
        index: frame index within the source (0 for a still image).
        timestamp: seconds from the start of a video, None for a still image.
        width, height: size of the analysed image in pixels (after EXIF orientation).
        faces: the faces found.
        timings_ms: wall time per stage in milliseconds.
        notes: human-readable remarks (e.g. "no face found").
    """

    source: str
    width: int
    height: int
    faces: Faces
    index: int = 0
    timestamp: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"FrameResult size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "notes", tuple(self.notes))

    def __repr__(self) -> str:
        """One line, as `print(result)` shows it: source, size, the faces (`Faces.__repr__`), notes."""
        when = "" if self.timestamp is None else f", frame {self.index} at {self.timestamp:.3f} s"
        notes = f", notes={list(self.notes)!r}" if self.notes else ""
        return f"FrameResult(source={self.source!r}, {self.width}x{self.height}{when}, {self.faces!r}{notes})"

    def with_notes(self, notes: Iterable[str]) -> FrameResult:
        """This result with `notes` in front of its own (those it already has are not repeated)."""
        new = tuple(n for n in dict.fromkeys(notes) if n not in self.notes)
        return replace(self, notes=new + self.notes) if new else self

    def to_dict(self, *, landmarks: bool = True) -> dict[str, Any]:
        from ferx import __version__

        return {
            "ferx_version": __version__,
            "source": self.source,
            "index": self.index,
            "timestamp": self.timestamp,
            "width": self.width,
            "height": self.height,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "notes": list(self.notes),
            "expression_labels": list(self.faces.expression_labels),
            "au_codes": list(self.faces.au_codes),
            "au_profile": None if self.faces.au_profile is None else self.faces.au_profile.to_dict(),
            # the fields the faces carry, so that a frame without a face comes back with them (from_dict)
            "fields": [n for n in FACE_FIELDS if getattr(self.faces, n) is not None and (landmarks or n != "landmarks")],
            "faces": self.faces.to_records(landmarks=landmarks),
        }

    def to_json(self, *, landmarks: bool = True, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(landmarks=landmarks), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrameResult:
        if not isinstance(d, dict) or not isinstance(d.get("faces"), list) or "width" not in d:
            raise ValueError("not a ferx result: expected a JSON object with 'faces', 'width' and 'height' "
                             "(FrameResult.to_json)")
        names = {f.name for f in fields(cls)}
        profile = d.get("au_profile")
        faces = Faces.from_records(
            d["faces"], au_codes=tuple(d["au_codes"]), expression_labels=tuple(d["expression_labels"]),
            au_profile=None if profile is None else AUProfile.from_dict(profile), fields=d.get("fields", ()),
        )
        kwargs = {k: v for k, v in d.items() if k in names and k not in ("faces", "au_profile", "fields")}
        return cls(faces=faces, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> FrameResult:
        return cls.from_dict(json.loads(text))

    def to_pandas(self, *, landmarks: bool = False) -> Any:
        """One row per face with every column of ferx's one table (`ferx.table`): the frame's
        source, index, timestamp and size first, then the face columns (`Faces.to_pandas`), notes."""
        from ferx.table import FrameInfo, TableLayout, to_pandas

        layout = TableLayout.of_faces(self.faces, landmarks=landmarks)
        rows = layout.rows(self, FrameInfo(kind="image" if self.timestamp is None else "video")) if len(self.faces) else []
        columns = {name: [r[j] for r in rows] for j, name in enumerate(layout.names)}
        return to_pandas(layout, columns, layout.names)


def _round(x: Any, decimals: int) -> Any:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return None if not math.isfinite(v) else round(v, decimals)
    rounded = np.round(arr, decimals).astype(object)
    rounded[~np.isfinite(arr)] = None
    return rounded.tolist()


def _unnone(x: Any) -> Any:
    if x is None:
        return np.nan
    if isinstance(x, list):
        return [_unnone(v) for v in x]
    return x
