"""One calibrated estimate per AU, from the source that reads it best, checked against FACS codes.

An AU's reading is a score — the mean of a few standardised measures (`ferx.aus.measures`: MediaPipe
blendshape coefficients, canonical-frame landmark geometry, image heads) — mapped linearly to the
FACS 0–5 scale so that the occurrence threshold (band A, 1.0) sits at the score chosen on
FACS-coded faces and the median coded occurrence reads C (2.5):

    score     = mean_i (measure_i − centre_i) / scale_i
    intensity = clip(1 + 1.5 · (score − threshold) / (mid − threshold), 0, 5)

Then facial logic (`facs.resolve_conflicts`) resolves readings that cannot co-exist.

What comes from where (`ferx.train.aus.calibration`, docs/aus.md):
- the measures an AU may be read from: anatomy (`measures.CANDIDATES`);
- centre and scale of each measure: lfw-expressions identity half A (the median of its neutral
  faces, the spread of all its faces), so measures of different units can be averaged;
- which candidates (one or two), the threshold and the mid point: the FACS-coded faces of
  `ckplus-facs` (research-only; these few numbers per AU are its only trace in ferx — no weights are
  fitted to it);
- the grades: each AU's ROC-AUC and F1 on those faces under subject-wise cross-validation.

The calibration is a JSON file (`assets/models/au-facs.json`, or any path) naming the image-head
model it was fitted with, by sha256; the heads are loaded only when the calibration reads them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ferx.aus.measures import measure_matrix, parse
from ferx.errors import ModelFileError
from ferx.facs import (
    AU_CODES,
    AU_NUMBERS,
    EVIDENCE_TEMPERATURE,
    NEUTRAL_EVIDENCE,
    OCCURRENCE_THRESHOLD,
    RESOLVED,
    AUProfile,
    absence_checks_json,
    absence_checks_of,
    resolve_conflicts,
)
from ferx.stages import AU_ESTIMATORS, StageBase
from ferx.types import Faces

#: Intensity of the median coded occurrence: band C, "marked".
MID_INTENSITY = 2.5


def to_intensity(scores: np.ndarray, threshold: np.ndarray, mid: np.ndarray, resolve: bool = True) -> np.ndarray:
    """(N, K) scores → intensities: linear from the threshold (1.0) through the mid point (2.5) up to
    5; below the threshold an exponential with the same slope at 1.0, so that it nears 0 without
    reaching it. A clip at 0 would give every clearly absent face the same 0, and the intensity would
    no longer rank faces by how much of the movement they show (ROC-AUC is a ranking measure); the
    old mesh mapping lost most of its AUC that way."""
    slope = (MID_INTENSITY - 1.0) / (mid - threshold)
    d = np.asarray(scores, np.float64) - threshold
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(d >= 0, np.minimum(1.0 + slope * d, 5.0), np.exp(slope * np.minimum(d, 0.0)))
    out = out.astype(np.float32)
    return resolve_conflicts(out) if resolve else out


def _rule_input(aus: np.ndarray, codes: Sequence[str], needed: set[str]) -> tuple[np.ndarray, dict[str, int] | None]:
    """A reading rule's working copy of (N, K) intensities and its columns by code; None where the
    readings lack one of the `needed` AUs (the rule then leaves them as they are)."""
    col = {c: j for j, c in enumerate(codes)}
    return np.array(aus, np.float32, copy=True), (col if needed <= col.keys() else None)


def _unclaimed_where(aus: np.ndarray, codes: Sequence[str], target: str, below: float,
                     where: dict[str, tuple[float, float]]) -> np.ndarray:
    """(N, K) intensities (a copy) with `target` read from A up to `below` resolved just under A on the
    faces where every AU of `where` reads within its [from, below) range: not claimed, not denied."""
    out, col = _rule_input(aus, codes, {target, *where})
    if col is None:
        return out
    read = out[:, col[target]]
    with np.errstate(invalid="ignore"):
        hit = (read >= OCCURRENCE_THRESHOLD) & (read < below)
        for code, (low, high) in where.items():
            hit &= (out[:, col[code]] >= low) & (out[:, col[code]] < high)
    out[:, col[target]] = np.where(hit, RESOLVED, read)
    return out


#: AU12 read only at A or B on a wide-open mouth (AU25 at D or more) with no cheek raise (AU6 under A)
#: is the mouth's stretch, not a smile: MediaPipe's mouthSmile, which AU12 is read from, rises as the
#: mouth opens. On the 255 lfw photos coded by eye, 6 of the 7 such readings were coded absent and the
#: seventh doubtful, none clearly present; it never happens on the coded CK+ peaks (docs/aus.md).
#: Resolved to just under A (never low enough to be called absent): a laugh whose cheek raise is
#: missed keeps its smile unclaimed, not denied.
OPEN_MOUTH_SMILE = {"AU12_below": 2.5, "AU25_from": 3.5, "AU6_below": 1.0}


def open_mouth_smiles(aus: np.ndarray, codes: Sequence[str] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with `OPEN_MOUTH_SMILE`'s AU12 readings resolved (a copy)."""
    return _unclaimed_where(aus, codes, "AU12", OPEN_MOUTH_SMILE["AU12_below"],
                            {"AU25": (OPEN_MOUTH_SMILE["AU25_from"], np.inf), "AU6": (-np.inf, OPEN_MOUTH_SMILE["AU6_below"])})


#: AU12 read only at A or B under strongly knitted brows (AU4 at C or more) is not a smile: mouthSmile and the
#: AU12 head, which AU12 is read from, rise as the corners are stretched or the upper lip raised in a snarl
#: or a grimace (the review's "the movements point to happiness" on a snarling shout). On the coded photos,
#: 6 of the 7 such readings were coded absent and one doubtful (presence codes), and on 8 of 12 neither
#: intensity coder saw AU12; on CK+ both such peaks are coded without it (docs/aus.md). Resolved just under
#: A: not claimed, not denied.
KNITTED_BROW_SMILE = {"AU12_below": 2.5, "AU4_from": 2.5}


def knitted_brow_smiles(aus: np.ndarray, codes: Sequence[str] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with `KNITTED_BROW_SMILE`'s AU12 readings resolved (a copy)."""
    return _unclaimed_where(aus, codes, "AU12", KNITTED_BROW_SMILE["AU12_below"],
                            {"AU4": (KNITTED_BROW_SMILE["AU4_from"], np.inf)})


#: A mouth stretch (AU27) read only at A is scored as a jaw drop (AU26) of that intensity: FACS scores
#: AU27 for a jaw pulled far open, and a reading that barely reaches A is the dropped jaw AU27's
#: measure also rises with. On the coded photos (255 lfw, 96 FER+), of the 21 faces that read AU27 at
#: A, 13 were coded a clear AU26 without a clear AU27, 4 a clear AU27 (docs/aus.md).
TRACE_STRETCH_BELOW = 1.5


def trace_stretches_as_drops(aus: np.ndarray, codes: Sequence[str] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with AU27 read at A moved to AU26 (a copy; see `TRACE_STRETCH_BELOW`)."""
    out, col = _rule_input(aus, codes, {"AU26", "AU27"})
    if col is None:
        return out
    a26, a27 = out[:, col["AU26"]], out[:, col["AU27"]]
    with np.errstate(invalid="ignore"):
        hit = (a27 >= OCCURRENCE_THRESHOLD) & (a27 < TRACE_STRETCH_BELOW)
    out[:, col["AU26"]] = np.where(hit, np.maximum(a26, a27), a26)
    out[:, col["AU27"]] = np.where(hit, RESOLVED, a27)
    return out


#: A lid raise (AU5) read only at A or B on tightened lids (AU7 at A or more) is not claimed: AU7 narrows
#: the eye opening that AU5 widens, MediaPipe's eyeWide (AU5's reading) rises on some narrowed, lowered
#: eyes (the review's "upper lids raised" on a glaring face), and on the coded photos (lfw, lfw eyes,
#: FER+) all 4 faces read so and coded for AU5 were coded without it. On CK+ the two co-occur once in 44
#: AU7 peaks (a fear face; its AU5 reads above B). Resolved just under A, as the coding rules resolve a
#: conflict: not claimed, not denied. The same rule for AU5 with a cheek raise at A alone (never coded
#: with AU5 on CK+) cost a CK+ peak whose AU6 is misread; `smiling_lids` asks AU6 and AU12 at B.
TIGHTENED_LIDS = {"AU7_from": 1.0, "AU5_below": 2.5}


def tightened_lids(aus: np.ndarray, codes: Sequence[str] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with `TIGHTENED_LIDS`' AU5 readings resolved (a copy)."""
    return _unclaimed_where(aus, codes, "AU5", TIGHTENED_LIDS["AU5_below"], {"AU7": (TIGHTENED_LIDS["AU7_from"], np.inf)})


#: A lid raise (AU5) read on a clear smile (AU6 and AU12 both at B or more) is not claimed: the cheek
#: raise pushes the lower lids up and MediaPipe's eyeWide, AU5's reading, rises on some such eyes (the
#: review's "upper lids raised (AU5, severe)" on a broad smile). CK+ codes AU5 with AU6 on none of its
#: 173 peaks. Resolved just under A: not claimed, not denied (docs/aus.md).
SMILING_LIDS = {"AU6_from": 1.5, "AU12_from": 1.5}


def smiling_lids(aus: np.ndarray, codes: Sequence[str] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with `SMILING_LIDS`' AU5 readings resolved (a copy)."""
    return _unclaimed_where(aus, codes, "AU5", np.inf, {"AU6": (SMILING_LIDS["AU6_from"], np.inf),
                                                       "AU12": (SMILING_LIDS["AU12_from"], np.inf)})


@dataclass(frozen=True)
class AUReading:
    """How one AU is read.

    Attributes:
        code: "AU4".
        measures: the measures averaged (`ferx.aus.measures` names).
        centre, scale: per measure, the standardisation (`score` is the mean of (m − centre) / scale).
        threshold: the score at which the AU occurs (intensity 1.0, band A).
        mid: the score read as C (2.5): the median score of coded occurrences.
        auc, f1, precision, recall, positives: measured on FACS-coded faces, subject-wise
            cross-validated (None where there are too few codes).
        source: how the threshold was set ("coded faces" or "reference faces").
    """

    code: str
    measures: tuple[str, ...]
    centre: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    mid: float
    auc: float | None = None
    f1: float | None = None
    precision: float | None = None
    recall: float | None = None
    positives: int = 0
    source: str = "coded faces"

    def __post_init__(self) -> None:
        for m in self.measures:
            parse(m)
        n = len(self.measures)
        if not n or len(self.centre) != n or len(self.scale) != n:
            raise ValueError(f"{self.code}: measures, centre and scale must have the same, non-zero length")
        if not all(math.isfinite(s) and s > 0 for s in self.scale):
            raise ValueError(f"{self.code}: scales must be positive, got {self.scale}")
        if not (math.isfinite(self.threshold) and math.isfinite(self.mid) and self.mid > self.threshold):
            raise ValueError(f"{self.code}: need finite threshold < mid, got {self.threshold}, {self.mid}")


@dataclass(frozen=True)
class AUCalibration:
    """Every AU's reading, the image heads it was fitted with, and the AU-evidence scoring.

    Attributes:
        name: what it is called ("au-facs").
        readings: one per AU of `facs.AU_TABLE`, in its order.
        heads: the image-head model read by ``h:`` measures (a shipped name), or None.
        heads_sha256: that model file's sha256 (a different file is refused).
        neutral_evidence, temperature: the AU-evidence scoring chosen for these readings.
        grade_caps: AU number → best grade allowed (too few codes to grade it higher).
        info: how it was fitted (data, commands, date), for the record.
        absence_checks: AU number → (misses, clear) on photos coded by eye: whether "absent" may be
            said of it (`facs.ActionUnit.absence_check`; written by `python -m ferx.train.aus.absence`).
    """

    name: str
    readings: tuple[AUReading, ...]
    heads: str | None = None
    heads_sha256: str | None = None
    neutral_evidence: float = NEUTRAL_EVIDENCE
    temperature: float = EVIDENCE_TEMPERATURE
    grade_caps: Mapping[int, str] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    absence_checks: Mapping[int, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        codes = tuple(r.code for r in self.readings)
        if codes != AU_CODES:
            raise ValueError(f"calibration {self.name!r}: readings for {list(codes)}, this ferx reads {list(AU_CODES)}")
        if any(parse(m)[1] == "h" for m in self.measures) and not self.heads:
            raise ValueError(f"calibration {self.name!r} reads image heads but names no head model")

    @cached_property
    def measures(self) -> tuple[str, ...]:
        """Every measure any reading uses, each once."""
        return tuple(dict.fromkeys(m for r in self.readings for m in r.measures))

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(M,) centre, (M,) scale, (M, K) averaging weights, (K,) threshold, (K,) mid."""
        index = {m: j for j, m in enumerate(self.measures)}
        centre, scale = np.zeros(len(index)), np.ones(len(index))
        weights = np.zeros((len(index), len(self.readings)))
        for k, r in enumerate(self.readings):
            for m, c, s in zip(r.measures, r.centre, r.scale):
                centre[index[m]], scale[index[m]] = c, s  # a measure has one standardisation
                weights[index[m], k] = 1.0 / len(r.measures)
        return (centre, scale, weights, np.array([r.threshold for r in self.readings]),
                np.array([r.mid for r in self.readings]))

    def scores(self, values: np.ndarray) -> np.ndarray:
        """(N, K) scores from (N, M) values of `measures`."""
        centre, scale, weights, _, _ = self._arrays
        return ((np.asarray(values, np.float64) - centre) / scale) @ weights

    def intensities(self, values: np.ndarray, resolve: bool = True) -> np.ndarray:
        """(N, K) intensities 0–5 from (N, M) values of `measures`, facial logic applied, then the
        reading rules measured on coded photos: `trace_stretches_as_drops`, `tightened_lids`,
        `smiling_lids`, `knitted_brow_smiles` and, where AU12 is read from MediaPipe's mouthSmile,
        `open_mouth_smiles`."""
        _, _, _, threshold, mid = self._arrays
        out = to_intensity(self.scores(values), threshold, mid, resolve)
        if resolve:
            out = trace_stretches_as_drops(out)  # readings are in AU_CODES order (__post_init__)
            out = tightened_lids(out)
            out = smiling_lids(out)
            out = knitted_brow_smiles(out)
            if "bs:mouthSmile" in self.readings[AU_CODES.index("AU12")].measures:
                out = open_mouth_smiles(out)
        return out

    def profile(self) -> AUProfile:
        """The grades (AUC on coded faces) and scoring these readings carry onto faces."""
        validity = {int(r.code[2:]): r.auc for r in self.readings if r.auc is not None}
        return AUProfile(self.name, validity, self.neutral_evidence, self.temperature, dict(self.grade_caps),
                         dict(self.absence_checks))

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["readings"] = [asdict(r) for r in self.readings]
        d["grade_caps"] = {f"AU{k}": v for k, v in sorted(self.grade_caps.items())}
        d["info"] = dict(self.info)
        d["absence_checks"] = absence_checks_json(self.absence_checks)
        return {"kind": "au-calibration", **d}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AUCalibration:
        if d.get("kind") != "au-calibration":
            raise ValueError(f"not an AU calibration (kind {d.get('kind')!r})")
        readings = tuple(AUReading(**{**r, "measures": tuple(r["measures"]), "centre": tuple(r["centre"]),
                                      "scale": tuple(r["scale"])}) for r in d["readings"])
        caps = {int(str(k).upper().removeprefix("AU")): str(v) for k, v in (d.get("grade_caps") or {}).items()}
        checks = absence_checks_of(str(d["name"]), d.get("absence_checks") or {})
        return cls(str(d["name"]), readings, d.get("heads"), d.get("heads_sha256"),
                   float(d.get("neutral_evidence", NEUTRAL_EVIDENCE)), float(d.get("temperature", EVIDENCE_TEMPERATURE)),
                   caps, dict(d.get("info") or {}), checks)

    @classmethod
    def load(cls, name_or_path: str | Path) -> AUCalibration:
        """A shipped calibration by name (ferx/assets/models/NAME.json) or a JSON file's path."""
        path = Path(name_or_path)
        if path.suffix != ".json":
            path = Path(str(resources.files("ferx") / "assets" / "models" / f"{name_or_path}.json"))
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ModelFileError(f"AU calibration {str(name_or_path)!r} not found ({path})") from None
        except (ValueError, KeyError, TypeError) as e:
            raise ModelFileError(f"{path}: not a valid AU calibration: {e}") from None


class AUMeasurer:
    """Computes measures for faces: the mesh's directly, the image heads' through onnxruntime.

    Args:
        heads: an image-head model (shipped name or NAME.onnx path), or None when no ``h:`` measure
            is needed.
        heads_sha256: if given, the head model file must have this sha256.
        threads: onnxruntime threads for the heads.
    """

    def __init__(self, heads: str | None = None, heads_sha256: str | None = None, threads: int = 1) -> None:
        self.heads = None
        if heads is not None:
            from ferx.aus.image_heads import ImageHeads

            self.heads = ImageHeads(heads, threads=threads)
            if heads_sha256 is not None and self.heads.sha256 != heads_sha256:
                raise ModelFileError(f"the AU calibration was fitted on head model {heads!r} with sha256 "
                                     f"{heads_sha256[:12]}…, the file found has {self.heads.sha256[:12]}…")

    def values(self, image: np.ndarray, faces: Faces, measures: Sequence[str]) -> np.ndarray:
        """(N, M) measures of faces with landmarks and blendshapes (rows without landmarks are NaN)."""
        if faces.landmarks is None or faces.blendshapes is None:
            raise ValueError("AU measures need a landmarker stage that outputs landmarks and blendshapes")
        out = np.full((len(faces), len(measures)), np.nan, np.float32)
        ok = np.flatnonzero(faces.has_landmarks)
        if not len(ok):
            return out
        heads = None
        if any(parse(m)[1] == "h" for m in measures):
            if self.heads is None:
                raise ValueError("these measures read image heads, but no head model was given")
            heads = self.heads.by_code(image, faces.landmarks[ok])
        out[ok] = measure_matrix(measures, faces.landmarks[ok], faces.blendshapes[ok], heads)
        return out

    def close(self) -> None:
        if self.heads is not None:
            self.heads.close()


@AU_ESTIMATORS.register("facs")
@AU_ESTIMATORS.register("image-heads")  # the name of the default estimator before issue 21; configs keep working
@AU_ESTIMATORS.register("blendshapes", calibration="au-facs-mesh")
class CalibratedAUEstimator(StageBase):
    """Fills `Faces.aus` (N, K) on the 0–5 scale: one calibrated reading per AU (see the module docstring).

    Registered as "facs" (default: blendshapes, geometry and image heads, calibration "au-facs"),
    "blendshapes" (the mesh alone, calibration "au-facs-mesh") and "image-heads" (the old name of
    "facs").

    Args:
        calibration: a shipped calibration's name or a JSON file's path.
        threads: onnxruntime threads for the image heads.

    Attributes:
        profile: the grades and AU-evidence scoring put on every face it fills.
    """

    needs = frozenset({"landmarks", "blendshapes"})
    provides = frozenset({"aus"})

    def __init__(self, calibration: str = "au-facs", threads: int = 1) -> None:
        self.calibration = AUCalibration.load(calibration)
        self.profile = self.calibration.profile()
        self._measurer = AUMeasurer(self.calibration.heads if any(parse(m)[1] == "h" for m in self.calibration.measures)
                                    else None, self.calibration.heads_sha256, threads)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        values = self._measurer.values(image, faces, self.calibration.measures)
        aus = self.calibration.intensities(values)
        return faces.with_fields(aus=aus, au_codes=AU_CODES, au_profile=self.profile)

    def close(self) -> None:
        self._measurer.close()


__all__ = ["AUCalibration", "AUMeasurer", "AUReading", "CalibratedAUEstimator", "MID_INTENSITY", "AU_NUMBERS"]
