"""The one table of facial action units (AUs) and the emotion codebooks.

Everything in ferx that needs to know what an AU is — the AU estimators, the expression scorer, the
annotator, the AU heatmaps and the chain of thought — reads it from here: names, regions, the
landmarks that locate each AU, the intensity bands, the emotion prototypes and AU interactions, and
how well an estimator measures each AU (`AUProfile`).

How an AU is *read* is not here: `ferx.aus` holds the measures (blendshapes, canonical-frame landmark
geometry, image heads) and the per-AU calibration checked against FACS codes (`ferx.aus.calibrated`).
ferx's AU intensities are estimates, not certified FACS codes: a FACS coder scores appearance
changes against the person's own neutral face on video; ferx reads one image, with no baseline.

Sources: Ekman, Friesen & Hager, *Facial Action Coding System* (2002) for names and regions;
EMFACS prototypes as tabulated by Matsumoto, Keltner, Shiota, O'Sullivan & Frank (2008) for the
emotion prototypes; Belharbi et al., "Guided Interpretable Facial Expression Recognition via Spatial
Action Unit Cues" (FG 2024), Table 1, for the heatmap codebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

#: The eight expression labels of FER+ (and AffectNet-8), in ferx's canonical order.
EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

#: MediaPipe Face Landmarker blendshape names, in the model's output order (checked at load).
BLENDSHAPES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
BLENDSHAPE_INDEX: dict[str, int] = {n: i for i, n in enumerate(BLENDSHAPES)}

#: Intensity bands: FACS letters for the 0–5 scale. An AU "occurs" at intensity >= OCCURRENCE_THRESHOLD.
BANDS: tuple[str, ...] = ("A", "B", "C", "D", "E")
OCCURRENCE_THRESHOLD: float = 1.0

#: Reliability grades of an AU estimate, best first (see `ActionUnit.reliability`). The grade is the
#: ROC-AUC of the estimate against the presence codes of certified FACS coders, on the coded peak
#: frames of `ckplus-facs`, subject-wise cross-validated (`ferx.train.aus.calibration`; docs/aus.md):
#: good >= 0.90, fair >= 0.80, weak >= 0.70, unreliable below (0.5 is chance).
RELIABILITY_GRADES: tuple[str, ...] = ("good", "fair", "weak", "unreliable", "ungraded")
RELIABILITY_EDGES: dict[str, float] = {"good": 0.90, "fair": 0.80, "weak": 0.70}
#: An AU's absence is stated only where, on real photos coded by eye (`data/lfw-au-codes`), its
#: estimate read at most this share of the clear occurrences as confidently absent — measured where
#: there are at least `ABSENCE_CHECK_MIN_CLEAR` of them (fewer say nothing; the grade alone decides).
#: On the shipped readings the shares fall into two groups: 0–14 % (AU2, AU5, AU6, AU15, AU17, AU25,
#: AU27) and 19–50 % (AU12, AU9, AU20); the edge lies between them (docs/aus.md, "Absence on photos").
ABSENCE_CHECK_MAX_MISSES: float = 0.15
ABSENCE_CHECK_MIN_CLEAR: int = 5


@dataclass(frozen=True)
class ActionUnit:
    """One facial action unit.

    Attributes:
        number: FACS AU number.
        name: FACS name.
        description: plain-language description of the appearance change.
        region: facial region (used for grouping and for AU heatmaps).
        landmarks: MediaPipe mesh indices that locate the AU's region (centres of AU heatmap blobs).
        note: known limitation of the estimate, shown to users and in explanations.
        validity: the estimator's measured ROC-AUC against FACS codes (`RELIABILITY_GRADES`); None
            where it could not be measured (too few coded occurrences).
        grade_cap: the best grade the estimate may have whatever its validity (an estimator sets it
            where the AUC overstates what is measured, e.g. too few coded occurrences).
        absence_check: (misses, clear) on real photos coded by eye: of the `clear` photos coded with
            the AU clearly present, `misses` read it at or below `CONFIDENT_ABSENCE` (None: not checked).
    """

    number: int
    name: str
    description: str
    region: str
    landmarks: tuple[int, ...]
    note: str = ""
    validity: float | None = None
    grade_cap: str | None = None
    absence_check: tuple[int, int] | None = None

    @property
    def code(self) -> str:
        return f"AU{self.number}"

    @property
    def reliability(self) -> str:
        """Grade of the estimate (`RELIABILITY_GRADES`) from its measured `validity`."""
        return grade_of(self.validity, self.grade_cap)

    @property
    def presence_reliable(self) -> bool:
        """True when the estimate is graded good or fair: its reading may carry a pattern or a compound."""
        return self.reliability in ("good", "fair")

    @property
    def absence_reliable(self) -> bool:
        """True when the estimate is good enough to state that the AU is absent: grade good or fair
        (a weak estimate misses too many real occurrences for "absent" to be said), and, where real
        photos coded by eye hold at least `ABSENCE_CHECK_MIN_CLEAR` clear occurrences, it read at
        most `ABSENCE_CHECK_MAX_MISSES` of them as confidently absent (issue 23: "no lip-corner pull"
        was said of a laugh; the CK+ grade is measured on posed peaks, where AU12 is rarely missed)."""
        if not self.presence_reliable:
            return False
        if self.absence_check is None or self.absence_check[1] < ABSENCE_CHECK_MIN_CLEAR:
            return True
        misses, clear = self.absence_check
        return misses / clear <= ABSENCE_CHECK_MAX_MISSES

    @property
    def measured(self) -> bool:
        """False when the estimate is too unreliable to tell whether the AU is there: it is then
        reported as "not measured", never as absent, and is no evidence for or against anything."""
        return self.reliability != "unreliable"


def grade_of(validity: float | None, cap: str | None = None) -> str:
    """The reliability grade of a measured validity (AUC): by `RELIABILITY_EDGES`, "ungraded" when
    there is none (None or NaN), and never better than `cap` (a cap of "unreliable" holds even for an
    ungraded AU)."""
    if validity is None or not math.isfinite(validity):
        return "unreliable" if cap == "unreliable" else "ungraded"
    grade = next((g for g, edge in RELIABILITY_EDGES.items() if validity >= edge), "unreliable")
    if cap is not None and RELIABILITY_GRADES.index(cap) > RELIABILITY_GRADES.index(grade):
        return cap
    return grade


_AU_ROWS: tuple[ActionUnit, ...] = (
    ActionUnit(1, "Inner Brow Raiser", "inner ends of the eyebrows pulled up", "brows", (107, 336)),
    ActionUnit(2, "Outer Brow Raiser", "outer parts of the eyebrows pulled up", "brows", (105, 334)),
    ActionUnit(4, "Brow Lowerer", "eyebrows lowered and drawn together", "brows", (107, 336, 9)),
    ActionUnit(5, "Upper Lid Raiser", "upper eyelids raised, eyes widened", "eyes", (159, 386)),
    ActionUnit(6, "Cheek Raiser", "cheeks raised, eyes narrowed from below, crow's feet", "cheeks", (50, 280)),
    ActionUnit(7, "Lid Tightener", "eyelids tightened, eye opening narrowed", "eyes", (145, 374)),
    ActionUnit(9, "Nose Wrinkler", "skin along the nose wrinkled, nostrils raised", "nose", (129, 358)),
    ActionUnit(10, "Upper Lip Raiser", "upper lip raised", "mouth", (37, 267)),
    ActionUnit(12, "Lip Corner Puller", "lip corners pulled up and back (smile)", "mouth", (61, 291)),
    ActionUnit(14, "Dimpler", "lip corners tightened into dimples", "mouth", (61, 291)),
    ActionUnit(15, "Lip Corner Depressor", "lip corners pulled down", "mouth", (61, 291)),
    ActionUnit(16, "Lower Lip Depressor", "lower lip pulled down", "mouth", (14, 17)),
    ActionUnit(17, "Chin Raiser", "chin boss pushed up, lower lip pushed up", "chin", (199,)),
    ActionUnit(18, "Lip Pucker", "lips pushed forward and puckered", "mouth", (0, 17)),
    ActionUnit(20, "Lip Stretcher", "lip corners stretched sideways", "mouth", (61, 291)),
    ActionUnit(22, "Lip Funneler", "lips funnelled outwards", "mouth", (0, 17)),
    ActionUnit(23, "Lip Tightener", "lips tightened and narrowed", "mouth", (0, 17)),
    ActionUnit(24, "Lip Pressor", "lips pressed together", "mouth", (13, 14),
               "closed lips pressed thin; lips rolled inward (AU28) look alike"),
    ActionUnit(25, "Lips Part", "lips apart", "mouth", (13, 14)),
    ActionUnit(26, "Jaw Drop", "jaw lowered, mouth open", "jaw", (14, 152)),
    ActionUnit(27, "Mouth Stretch", "mouth stretched wide open, jaw pulled far down", "jaw", (14, 152)),
    ActionUnit(43, "Eyes Closed", "eyes closed (AU45 blink looks the same in a still image)", "eyes",
               (159, 145, 386, 374)),
)

#: The mesh estimator's validity per AU (`ActionUnit.validity`): the ROC-AUC of its readings against
#: FACS codes, subject-wise cross-validated on `ckplus-facs` — the grades of the "blendshapes"
#: estimator, whose calibration (`assets/models/au-facs-mesh.json`) holds the same numbers (a test
#: checks it). They grade AUs that come without a profile (hand-built faces, JSON from before
#: profiles). AUs with too few coded occurrences are ungraded, and capped (`MESH_CAPS`).
AU_VALIDITY: dict[int, float] = {
    1: 0.9459, 2: 0.9721, 4: 0.8186, 5: 0.9801, 6: 0.9504, 7: 0.8349, 9: 0.8311, 10: 0.3652,
    12: 0.9858, 14: 0.8625, 15: 0.8774, 17: 0.9563, 20: 0.9794, 23: 0.8475, 24: 0.8862, 25: 0.9965,
    26: 0.8503, 27: 0.9918,
}
#: Grade caps of the mesh estimator: AUs graded on fewer than 10 coded occurrences.
MESH_CAPS: dict[int, str] = {10: 'weak', 26: 'weak'}
AU_TABLE: tuple[ActionUnit, ...] = tuple(replace(au, validity=AU_VALIDITY.get(au.number)) for au in _AU_ROWS)
AU_NUMBERS: tuple[int, ...] = tuple(au.number for au in AU_TABLE)
#: (K,) bool in AU_TABLE order: the AU is measured (not graded unreliable).
AU_MEASURED: np.ndarray = np.array([au.measured for au in AU_TABLE])
AU_CODES: tuple[str, ...] = tuple(au.code for au in AU_TABLE)
AU_BY_NUMBER: dict[int, ActionUnit] = {au.number: au for au in AU_TABLE}


def au_index(number: int) -> int:
    """Column of AU `number` in ferx's AU arrays."""
    try:
        return AU_NUMBERS.index(number)
    except ValueError:
        raise KeyError(f"AU{number} is not in ferx's AU table ({', '.join(AU_CODES)})") from None


#: Lower edges of the bands A–E on the 0–5 scale: A from 1 (OCCURRENCE_THRESHOLD), then each band
#: centred on its integer. Fixed edges, so that 2.5 is C and 3.5 is D (Python's round() sends
#: halves to the even integer: 2.5 → B but 3.5 → D).
BAND_EDGES: tuple[float, ...] = (1.0, 1.5, 2.5, 3.5, 4.5)


def intensity_band(intensity: float) -> str | None:
    """FACS band letter for a 0–5 intensity, or None when the AU is absent (< OCCURRENCE_THRESHOLD).
    The band is that of the value as stored (4 decimals, `numeric.stored_intensity`), so that the JSON,
    the table, the text and the report give one band for one reading."""
    if not np.isfinite(intensity):
        return None
    intensity = round(float(intensity), 4)
    if intensity < OCCURRENCE_THRESHOLD:
        return None
    return BANDS[sum(intensity >= edge for edge in BAND_EDGES) - 1]


@dataclass(frozen=True)
class Prototype:
    """AU evidence for one emotion: weighted supporting AUs and AUs that argue against it."""

    emotion: str
    supports: dict[int, float]
    opposes: tuple[int, ...] = ()
    #: Contempt is the one-sided smile/dimple; its evidence is the left/right asymmetry of these.
    unilateral: tuple[int, ...] = ()


#: Prototypes for scoring emotions from AU evidence (EMFACS, after Matsumoto et al. 2008; core AUs
#: weight 1, supporting AUs less). Neutral has no prototype: it wins when no emotion has evidence.
EMOTION_PROTOTYPES: dict[str, Prototype] = {
    p.emotion: p
    for p in (
        # AU25 is not evidence for happiness: parted lips go with talking, surprise and fear as much
        # as with a smile. (AU4 often joins a broad smile, so it does not oppose happiness.)
        Prototype("happiness", {12: 1.0, 6: 0.7}, opposes=(15,)),
        # 1+2+5B+26 or 1+2+5B+27: the jaw drops (AU26) or the mouth stretches (AU27), and FACS scores
        # one of the two (`CODING_RULES`), so each carries half the jaw's weight.
        Prototype("surprise", {1: 0.8, 2: 0.8, 5: 0.8, 26: 0.5, 27: 0.5, 25: 0.3}, opposes=(4, 12)),
        Prototype("sadness", {1: 0.8, 4: 0.6, 15: 1.0, 17: 0.4}, opposes=(12, 2)),
        # 4+5+7+23/24, with 17 (4+5+7+17+23/24) and 10 (4+5+7+10+23+25/26) in EMFACS's variants.
        Prototype("anger", {4: 1.0, 5: 0.3, 7: 0.6, 23: 0.6, 24: 0.6, 17: 0.4, 10: 0.3}, opposes=(12, 1, 2)),
        # 9 or 10 with 16 + 25/26, or with 17 (EMFACS: 9+16+15/26, 9+17, 10+16+25/26, 10+17).
        Prototype("disgust", {9: 1.0, 10: 1.0, 16: 0.5, 25: 0.2, 26: 0.2, 15: 0.3, 17: 0.3}, opposes=(12,)),
        Prototype("fear", {1: 0.8, 2: 0.5, 4: 0.6, 5: 0.8, 20: 1.0, 26: 0.4, 25: 0.3, 27: 0.3}, opposes=(12,)),
        Prototype("contempt", {14: 1.0, 12: 0.5}, unilateral=(14, 12)),
    )
}

#: The AU codebook of Belharbi et al. (FG 2024, Table 1) used to build AU heatmaps for training;
#: neutral has none (no alignment loss). Heatmaps place AU27 in the mouth box with AU23–26.
HEATMAP_CODEBOOK: dict[str, tuple[int, ...]] = {
    "neutral": (),
    "happiness": (6, 12, 25),
    "surprise": (1, 2, 5, 26, 27),
    "fear": (1, 2, 4, 5, 20, 25, 26, 27),
    "anger": (4, 5, 7, 10, 17, 23, 24, 25, 26),
    "disgust": (9, 10, 16, 17, 25, 26),
    "sadness": (1, 4, 6, 15, 17),
    "contempt": (12, 14),
}


def emotions_for_au(number: int) -> tuple[str, ...]:
    """Emotions whose prototype lists AU `number` as evidence, strongest weight first."""
    hits = [(p.supports[number], e) for e, p in EMOTION_PROTOTYPES.items() if number in p.supports]
    return tuple(e for _, e in sorted(hits, key=lambda t: -t[0]))


# -- contempt's one-sidedness ---------------------------------------------------------------------
#: Contempt's one-sided AUs read side by side from MediaPipe's left/right blendshapes: the two
#: coefficients and the coefficient range mapped onto 0–5 (a side at `rest` reads 0, at `full` 5),
#: as the mesh estimator read them before issue 21 (lfw-expressions: rest near the neutral 90th
#: percentile, full near the expressive 95th).
ONE_SIDED_SOURCES: dict[int, tuple[str, str, float, float]] = {
    12: ("mouthSmileLeft", "mouthSmileRight", 0.10, 0.85),
    14: ("mouthDimpleLeft", "mouthDimpleRight", 0.06, 0.25),
}


def au_asymmetry(number: int, blendshapes: np.ndarray) -> np.ndarray:
    """(N,) |left − right| of a one-sided AU (`ONE_SIDED_SOURCES`) on the 0–5 scale; 0 for others."""
    if number not in ONE_SIDED_SOURCES:
        return np.zeros(blendshapes.shape[0], np.float32)
    left, right, rest, full = ONE_SIDED_SOURCES[number]
    sides = blendshapes[:, [BLENDSHAPE_INDEX[left], BLENDSHAPE_INDEX[right]]]
    level = 5.0 * np.clip((sides - rest) / (full - rest), 0.0, 1.0)
    return np.abs(level[:, 0] - level[:, 1]).astype(np.float32)


def one_sidedness(aus: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
    """(N, len(ONE_SIDED_AUS)) left/right difference of each one-sided-evidence AU, on the 0–5
    scale, never more than the AU's reported intensity: the sides come from the blendshapes, the
    intensity from whichever estimator filled `aus` (which may read a weaker AU14 than the
    blendshapes' stronger side).

    Args:
        aus: (N, K) intensities in `AU_CODES` order (NaN read as 0).
        blendshapes: (N, 52).
    """
    diff = np.stack([au_asymmetry(n, blendshapes) for n in ONE_SIDED_AUS], axis=1)
    level = np.nan_to_num(aus[:, [au_index(n) for n in ONE_SIDED_AUS]], nan=0.0)
    return np.minimum(diff, np.maximum(level, 0.0)).astype(np.float32)


# -- facial logic: readings that cannot co-exist ----------------------------------------------------
# Each AU is read on its own (`ferx.aus.calibrated`), so two readings can contradict each other: lips
# pressed together (AU24) while the lips are apart (AU25), a jaw stretched wide open (AU27) on closed
# lips. FACS coding rules say which combinations a coder never scores; here they are applied to the
# 0–5 intensities, whose scale is the same for every AU (1.0 = the occurrence threshold chosen on
# FACS-coded faces, 2.5 = the median coded occurrence), so "which reading is surer" is the larger
# distance from 1.0. A reading that loses is set just below the occurrence threshold (`RESOLVED`),
# never to 0: it is no longer present, and it is not a confident absence either. Observed on the coded
# faces of `ckplus-facs`: AU24 never comes with AU25, AU26 and AU27 never without AU25, and coders
# scored AU26 or AU27, never both. The AU estimator applies them; the explainer checks them again,
# so AUs from elsewhere (hand-built, older JSON) never print a contradiction either.
#: Where a reading that lost a conflict is set: below the occurrence threshold, above "clearly absent".
RESOLVED: float = OCCURRENCE_THRESHOLD - 0.1


@dataclass(frozen=True)
class CodingRule:
    """One FACS co-occurrence rule between AUs `a` and `b`.

    kind:
        "excludes": a and b are not scored together; the less sure reading is resolved.
        "supersedes": where a is present, b is not scored (FACS scores AU27, not AU26, for the jaw).
        "requires": a implies b; where a is present without b, either a is resolved or b is raised
            to the threshold, whichever reading is less sure.
    """

    kind: str
    a: int
    b: int
    why: str


CODING_RULES: tuple[CodingRule, ...] = (
    CodingRule("supersedes", 27, 26, "the jaw is scored once: mouth stretch (AU27) or jaw drop (AU26)"),
    CodingRule("excludes", 24, 25, "lips pressed together are not apart"),
    CodingRule("requires", 27, 25, "a mouth stretched open has its lips apart"),
    CodingRule("requires", 26, 25, "a dropped jaw is read from the parted lips it opens"),
    CodingRule("excludes", 43, 5, "closed eyes have no raised upper lid"),
)


def _group(number: int) -> tuple[int, ...]:
    """`number` and the AUs that require it: evidence for one is evidence for the others (a wide-open
    jaw is evidence of parted lips), and where it is resolved they go too. Why the rules need no second
    pass: an exclusion settles the whole group before the requirements run, so raising AU25 for a
    jaw can never re-open a conflict with AU24."""
    return (number, *(r.a for r in CODING_RULES if r.kind == "requires" and r.b == number))


def resolve_conflicts(aus: np.ndarray, codes: tuple[str, ...] = AU_CODES) -> np.ndarray:
    """(N, K) intensities with the readings that break `CODING_RULES` resolved (a copy; NaN rows stay NaN).

    Args:
        aus: (N, K) intensities on the 0–5 scale, columns `codes`.
        codes: the AU code of each column; rules about AUs not in it are skipped.
    """
    out = np.array(aus, np.float32, copy=True)
    col = {c: j for j, c in enumerate(codes)}
    for rule in CODING_RULES:
        ja, jb = col.get(f"AU{rule.a}"), col.get(f"AU{rule.b}")
        if ja is None or jb is None:
            continue
        a, b = out[:, ja].copy(), out[:, jb].copy()
        with np.errstate(invalid="ignore"):
            on_a, on_b = a >= OCCURRENCE_THRESHOLD, b >= OCCURRENCE_THRESHOLD
            if rule.kind == "supersedes":
                out[:, jb] = np.where(on_a & on_b, np.minimum(b, RESOLVED), b)
            elif rule.kind == "excludes":
                ga = [col[f"AU{n}"] for n in _group(rule.a) if f"AU{n}" in col]
                gb = [col[f"AU{n}"] for n in _group(rule.b) if f"AU{n}" in col]
                sa, sb = out[:, ga].max(axis=1), out[:, gb].max(axis=1)
                both = (sa >= OCCURRENCE_THRESHOLD) & (sb >= OCCURRENCE_THRESHOLD)
                a_wins = sa >= sb  # the surer side stays, with everything that implies it
                for j in ga:
                    out[:, j] = np.where(both & ~a_wins, np.minimum(out[:, j], RESOLVED), out[:, j])
                for j in gb:
                    out[:, j] = np.where(both & a_wins, np.minimum(out[:, j], RESOLVED), out[:, j])
            else:  # requires
                broken = on_a & ~on_b
                a_wins = (a - OCCURRENCE_THRESHOLD) > (OCCURRENCE_THRESHOLD - b)
                out[:, ja] = np.where(broken & ~a_wins, RESOLVED, a)
                out[:, jb] = np.where(broken & a_wins, np.float32(OCCURRENCE_THRESHOLD), b)
    return out


def conflicts(aus: np.ndarray, codes: tuple[str, ...] = AU_CODES) -> list[tuple[int, CodingRule]]:
    """(face row, rule) for every rule a row breaks: empty after `resolve_conflicts`."""
    col = {c: j for j, c in enumerate(codes)}
    found = []
    for rule in CODING_RULES:
        ja, jb = col.get(f"AU{rule.a}"), col.get(f"AU{rule.b}")
        if ja is None or jb is None:
            continue
        with np.errstate(invalid="ignore"):
            on_a, on_b = aus[:, ja] >= OCCURRENCE_THRESHOLD, aus[:, jb] >= OCCURRENCE_THRESHOLD
        bad = (on_a & ~on_b) if rule.kind == "requires" else (on_a & on_b)
        found += [(int(i), rule) for i in np.flatnonzero(bad)]
    return found


# -- knowledge for explanations ------------------------------------------------------------------
#: FACS intensity band names (Ekman, Friesen & Hager 2002): the words explanations use for A–E, so
#: that a text's wording can be checked against the measured band.
BAND_WORDS: dict[str, str] = {"A": "trace", "B": "slight", "C": "marked", "D": "severe", "E": "maximum"}


@dataclass(frozen=True)
class Interaction:
    """A known combination of AUs whose meaning is more than the sum of its parts.

    Attributes:
        key: stable identifier (used by templates and in the structured explanation).
        aus: the AUs of the pattern.
        emotions: the emotions the pattern is evidence for.
        min_active: how many of `aus` must be active (default: all).
        any_of: at least one of these must be active as well (the open mouth of surprise: 25 or 26).
        absent: AUs that must be absent for the pattern (AU12 without AU6 is a non-Duchenne smile);
            an absence is only claimed for an AU that is measured (`ActionUnit.measured`).
        min_intensity: intensity an AU must reach to count for this pattern (default: band A). The
            smile patterns need band B: a trace of AU12 is no smile to classify as felt or social.
        unilateral: the pattern is the one-sidedness of these AUs (left/right blendshapes), not
            their presence.
        subsumes: keys of smaller patterns this one contains; when both are found, the smaller
            one says nothing new and is left out of the explanation.
        source: where the pattern comes from.
    """

    key: str
    aus: tuple[int, ...]
    emotions: tuple[str, ...]
    min_active: int = 0
    any_of: tuple[int, ...] = ()
    absent: tuple[int, ...] = ()
    min_intensity: float = OCCURRENCE_THRESHOLD
    unilateral: bool = False
    subsumes: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not self.min_active:
            object.__setattr__(self, "min_active", len(self.aus))


#: Left/right difference (0–5 scale) from which a bilateral AU counts as one-sided.
ASYMMETRY_THRESHOLD: float = 1.0

# Sources: Ekman, Davidson & Friesen (1990) "The Duchenne smile" (J. Pers. Soc. Psychol. 58:342) for
# AU6+AU12; EMFACS prototypes after Matsumoto et al. (2008) for the brow, anger and disgust
# patterns; Ekman & Friesen (1986) "A new pan-cultural facial expression of emotion" (Motivation and
# Emotion 10:159) for the unilateral AU12/AU14 of contempt.
#: Intensity from which an AU counts for the smile patterns and the compound expressions: band B.
PATTERN_MIN_INTENSITY: float = BAND_EDGES[1]

INTERACTIONS: tuple[Interaction, ...] = (
    Interaction("duchenne_smile", (6, 12), ("happiness",), min_intensity=PATTERN_MIN_INTENSITY,
                source="Ekman, Davidson & Friesen 1990"),
    Interaction("social_smile", (12,), ("happiness",), absent=(6,), min_intensity=PATTERN_MIN_INTENSITY,
                source="Ekman, Davidson & Friesen 1990"),
    Interaction("sad_brow", (1, 4), ("sadness", "fear"), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("fear_brow", (1, 2, 4), ("fear",), subsumes=("sad_brow",), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("sad_mouth", (15, 17), ("sadness",), source="EMFACS (Matsumoto et al. 2008)"),
    # "Open mouth" only when the lips part or the jaw drops; raised brows and lids alone are the
    # surprise brow (Ekman & Friesen 1975: surprise shows in the brows and eyes without the mouth).
    Interaction("surprise_face", (1, 2, 5), ("surprise",), min_active=2, any_of=(25, 26, 27),
                source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("surprise_brow", (1, 2, 5), ("surprise",), min_active=2, absent=(25, 26),
                source="Ekman & Friesen 1975"),
    Interaction("fear_mouth", (20, 25), ("fear",), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("anger_face", (4, 5, 7, 23, 24), ("anger",), min_active=3, subsumes=("anger_glare",),
                source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("anger_glare", (4, 7), ("anger",), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("disgust_nose_lip", (9, 10), ("disgust",), min_active=1, source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("unilateral_smile", (12, 14), ("contempt",), min_active=1, unilateral=True,
                source="Ekman & Friesen 1986"),
)
INTERACTIONS_BY_KEY: dict[str, Interaction] = {i.key: i for i in INTERACTIONS}


@dataclass(frozen=True)
class CompoundExpression:
    """A compound emotion category of Du, Tao & Martinez (2014) and its consistently active AUs."""

    name: str
    components: tuple[str, ...]
    aus: tuple[int, ...]


#: Du, Tao & Martinez (2014) "Compound facial expressions of emotion", PNAS 111(15):E1454, Table 1:
#: the AUs active in more than 70 % of the 230 subjects for each compound category (the AUs seen in
#: only some subjects are left out). AU11 (nasolabial deepener) is not estimated by ferx and does
#: not appear in these consistent sets. Appalled, hatred and sadly disgusted share AU4+AU10, so a
#: face showing it is consistent with all three.
COMPOUND_EXPRESSIONS: tuple[CompoundExpression, ...] = (
    CompoundExpression("happily surprised", ("happiness", "surprise"), (1, 2, 12, 25)),
    CompoundExpression("happily disgusted", ("happiness", "disgust"), (10, 12, 25)),
    CompoundExpression("sadly fearful", ("sadness", "fear"), (1, 4, 20, 25)),
    CompoundExpression("sadly angry", ("sadness", "anger"), (4, 15)),
    CompoundExpression("sadly surprised", ("sadness", "surprise"), (1, 4, 25, 26)),
    CompoundExpression("sadly disgusted", ("sadness", "disgust"), (4, 10)),
    CompoundExpression("fearfully angry", ("fear", "anger"), (4, 20, 25)),
    CompoundExpression("fearfully surprised", ("fear", "surprise"), (1, 2, 5, 20, 25)),
    CompoundExpression("fearfully disgusted", ("fear", "disgust"), (1, 4, 10, 20, 25)),
    CompoundExpression("angrily surprised", ("anger", "surprise"), (4, 25, 26)),
    CompoundExpression("angrily disgusted", ("anger", "disgust"), (4, 10, 17)),
    CompoundExpression("disgustedly surprised", ("disgust", "surprise"), (1, 2, 5, 10)),
    CompoundExpression("appalled", ("disgust", "anger"), (4, 10)),
    CompoundExpression("hatred", ("anger", "disgust"), (4, 10)),
    CompoundExpression("awed", ("fear", "surprise"), (1, 2, 5, 25)),
)


def core_aus(emotion: str) -> tuple[int, ...]:
    """The AUs of an emotion's prototype with weight >= 0.8 (its defining movements)."""
    proto = EMOTION_PROTOTYPES.get(emotion)
    if proto is None:
        return ()
    return tuple(n for n, w in sorted(proto.supports.items(), key=lambda t: -t[1]) if w >= 0.8)


#: An emotion's defining movements, for statements of absence: groups of alternatives, each group
#: present in every EMFACS prototype of the emotion (Matsumoto, Keltner, Shiota, O'Sullivan & Frank
#: 2008, the EMFACS prototypes: happiness 6+12, 12C/D; sadness 1+4+11+15B, 1+4+15, 6+15; surprise
#: 1+2+5B+26, 1+2+5B+27, 5B+26, 5B+27, 1+2+26, 1+2+27; fear 1+2+4+5+20+25/26/27, 1+2+4+5+25/26/27;
#: anger 4+5+7 with 10, 17, 22–26 in its variants; disgust 9, 9+16+15/26, 9+17, 10, 10+16+25/26,
#: 10+17; contempt R12A+R14A). A group is missing only where every AU in it is absent: surprise
#: lacks its jaw movement only if neither AU26 nor AU27 is there. Neutral has none.
DEFINING: dict[str, tuple[tuple[int, ...], ...]] = {
    "neutral": (),
    "happiness": ((12,),),
    "sadness": ((15,),),
    "surprise": ((26, 27),),
    "fear": ((1,), (2,), (4,)),
    "anger": ((4,), (7,)),
    "disgust": ((9, 10),),
    "contempt": ((12, 14),),
}
#: An AU reads as confidently absent at or below this intensity (half of band A's threshold): a
#: reading between it and band A is neither present nor absent, and no sentence says either.
CONFIDENT_ABSENCE: float = 0.5

#: The AUs whose left/right difference is evidence (contempt's one-sided smile or dimple).
ONE_SIDED_AUS: tuple[int, ...] = (12, 14)


def evidence_matrices(measured: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The prototypes as arrays for scoring AU evidence with matrix products.

    Returns (K, 8) support weights (each emotion's column sums to 1 over its *measured* prototype
    AUs: an AU that cannot be measured is no evidence either way, so the evidence is the weighted
    mean of what can be seen), (K, 8) opposing-AU mask (measured AUs only), and (2, 8) weights of
    the left/right differences of `ONE_SIDED_AUS` (contempt), in `EXPRESSIONS` order.

    Args:
        measured: (K,) bool in AU_TABLE order (default `AU_MEASURED`).
    """
    measured = AU_MEASURED if measured is None else np.asarray(measured, bool)
    support = np.zeros((len(AU_TABLE), len(EXPRESSIONS)), np.float32)
    oppose = np.zeros_like(support)
    unilateral = np.zeros((len(ONE_SIDED_AUS), len(EXPRESSIONS)), np.float32)
    for j, emotion in enumerate(EXPRESSIONS):
        proto = EMOTION_PROTOTYPES.get(emotion)
        if proto is None:
            continue
        if proto.unilateral:
            total = sum(proto.supports[n] for n in proto.unilateral)
            for n in proto.unilateral:
                unilateral[ONE_SIDED_AUS.index(n), j] = proto.supports[n] / total
            continue
        seen = {n: w for n, w in proto.supports.items() if measured[au_index(n)]}
        if not any(measured[au_index(n)] for n in core_aus(emotion)):
            continue  # none of its defining AUs can be seen: the AUs say nothing about this emotion
        total = sum(seen.values())
        for n, w in seen.items():
            support[au_index(n), j] = w / total
        for n in proto.opposes:
            oppose[au_index(n), j] = float(measured[au_index(n)])
    return support, oppose, unilateral


#: AU-evidence scoring of the mesh estimator ("blendshapes", `assets/models/au-facs-mesh.json`),
#: chosen on lfw-expressions identity half A (`ferx.train.aus.calibration.choose_scoring`): the
#: neutral level by accuracy, then the temperature by log-loss, so AU-only percentages are calibrated.
#: Every estimator's own scoring travels in its profile; these are the defaults.
NEUTRAL_EVIDENCE: float = 0.2
EVIDENCE_TEMPERATURE: float = 0.15

def absence_checks_of(name: str, checks: Mapping[Any, Any]) -> dict[int, tuple[int, int]]:
    """Absence checks (`ActionUnit.absence_check`) keyed by AU number, as in memory or by "AU<n>" code,
    as in JSON, checked: known AU numbers, 0 <= misses <= clear. `name`: whose they are, for errors."""
    out = {int(str(k).upper().removeprefix("AU")): (int(v[0]), int(v[1])) for k, v in checks.items()}
    unknown = sorted(set(out) - {au.number for au in _AU_ROWS})
    if unknown:
        raise ValueError(f"AU profile {name!r}: absence checks for AU numbers {unknown} are not in the FACS table")
    bad = {k: v for k, v in out.items() if not 0 <= v[0] <= v[1]}
    if bad:
        raise ValueError(f"AU profile {name!r}: absence checks {bad} need 0 <= misses <= clear")
    return out


def absence_checks_json(checks: Mapping[int, tuple[int, int]]) -> dict[str, list[int]]:
    """Absence checks as JSON writes them: "AU<n>" → [misses, clear], in AU number order."""
    return {f"AU{k}": list(v) for k, v in sorted(checks.items())}


@dataclass(frozen=True, eq=False)
class AUProfile:
    """How well one AU estimator measures each AU, and how AU evidence from it is scored.

    Grades belong to the estimator, not to the AU: the mesh estimate of AU4 is weak, the image
    heads' is good. Every AU estimator stage puts its profile on the faces it fills
    (`Faces.au_profile`), and everything that grades, scores or words AUs (the explainer, the
    `au-codebook` classifier, the JSON output, the report, the annotation) reads it from there.

    Attributes:
        name: the estimator it describes (its calibration: "au-facs", "au-facs-mesh", ...).
        validity: AU number → measured AUC of its estimate (`ActionUnit.validity`); AUs not listed
            are ungraded.
        neutral_evidence, temperature: the AU-evidence scoring (`evidence_probabilities`) chosen
            on validation data for this estimator.
        caps: AU number → best grade allowed (`ActionUnit.grade_cap`).
        absence_checks: AU number → (misses, clear) on photos coded by eye (`ActionUnit.absence_check`).
    """

    name: str
    validity: Mapping[int, float] = field(default_factory=dict)
    neutral_evidence: float = NEUTRAL_EVIDENCE
    temperature: float = EVIDENCE_TEMPERATURE
    caps: Mapping[int, str] = field(default_factory=dict)
    absence_checks: Mapping[int, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # derived once; the profile is immutable
        validity = {int(k): float(v) for k, v in self.validity.items()}
        unknown = sorted(set(validity) - {au.number for au in _AU_ROWS})
        if unknown:
            raise ValueError(f"AU profile {self.name!r}: AU numbers {unknown} are not in the FACS table")
        if self.temperature <= 0:
            raise ValueError(f"AU profile {self.name!r}: temperature must be positive, got {self.temperature}")
        caps = {int(k): str(v) for k, v in self.caps.items()}
        unknown = sorted(set(caps) - {au.number for au in _AU_ROWS})
        if unknown:
            raise ValueError(f"AU profile {self.name!r}: caps for AU numbers {unknown} are not in the FACS table")
        bad = {k: v for k, v in caps.items() if v not in RELIABILITY_GRADES}
        if bad:
            raise ValueError(f"AU profile {self.name!r}: grade caps {bad} are not grades ({', '.join(RELIABILITY_GRADES)})")
        checks = absence_checks_of(self.name, self.absence_checks)
        set_(self, "validity", MappingProxyType(validity))  # read-only: units and matrices derive from them
        set_(self, "caps", MappingProxyType(caps))
        set_(self, "absence_checks", MappingProxyType(checks))
        units = tuple(replace(au, validity=validity.get(au.number), grade_cap=caps.get(au.number),
                              absence_check=checks.get(au.number)) for au in _AU_ROWS)
        set_(self, "units", units)
        set_(self, "by_number", {au.number: au for au in units})
        set_(self, "measured", np.array([au.measured for au in units]))
        set_(self, "matrices", evidence_matrices(self.measured))

    units: tuple[ActionUnit, ...] = field(init=False, repr=False)
    by_number: dict[int, ActionUnit] = field(init=False, repr=False)
    measured: np.ndarray = field(init=False, repr=False)  # (K,) bool in AU_TABLE order
    matrices: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False)

    def unit(self, code_or_number: str | int) -> ActionUnit | None:
        """The AU's table row with this estimator's validity (None for a code outside the table)."""
        if isinstance(code_or_number, str):
            digits = code_or_number.upper().removeprefix("AU")
            if not digits.isdigit():
                return None
            code_or_number = int(digits)
        return self.by_number.get(int(code_or_number))

    def grade(self, code: str) -> str | None:
        """`ActionUnit.reliability` of an AU code under this estimator (None outside the table)."""
        au = self.unit(code)
        return None if au is None else au.reliability

    def is_measured(self, code: str) -> bool:
        """False only for AUs this estimator cannot measure (graded unreliable); codes outside the
        table count as measured (nothing says otherwise)."""
        au = self.unit(code)
        return au is None or au.measured

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "validity": {f"AU{k}": v for k, v in sorted(self.validity.items())},
                "neutral_evidence": self.neutral_evidence, "temperature": self.temperature,
                "caps": {f"AU{k}": v for k, v in sorted(self.caps.items())},
                "absence_checks": absence_checks_json(self.absence_checks),
                # derived (from_dict recomputes them): the grade a reader looks for, next to the AUCs
                "grades": {au.code: au.reliability for au in self.units}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AUProfile:
        validity = {int(str(k).upper().removeprefix("AU")): float(v) for k, v in d.get("validity", {}).items()}
        caps = {int(str(k).upper().removeprefix("AU")): str(v) for k, v in (d.get("caps") or {}).items()}
        return cls(str(d.get("name", "unknown")), validity, float(d.get("neutral_evidence", NEUTRAL_EVIDENCE)),
                   float(d.get("temperature", EVIDENCE_TEMPERATURE)), caps, d.get("absence_checks") or {})


#: The mesh estimator's profile (the "blendshapes" backend): `AU_VALIDITY`, `MESH_CAPS` and the scoring
#: above. Also what AUs from an unknown source (e.g. JSON written before profiles) are read with.
MESH_PROFILE = AUProfile("au-facs-mesh", AU_VALIDITY, NEUTRAL_EVIDENCE, EVIDENCE_TEMPERATURE, MESH_CAPS)


def profile_of(profile: AUProfile | None) -> AUProfile:
    """`profile`, or `MESH_PROFILE` for AUs that carry none."""
    return MESH_PROFILE if profile is None else profile


def au_evidence(aus: np.ndarray, asymmetry: np.ndarray | None, profile: AUProfile | None = None) -> np.ndarray:
    """(N, 8) AU evidence per label in `EXPRESSIONS` order (neutral column: 0; the caller sets its
    fixed level): each emotion's weighted mean of its measured prototype AUs minus half its strongest
    measured opposing AU, plus, for contempt, the one-sidedness of the smile/dimple. Three array
    operations, since the explainer runs this on every face.

    Args:
        aus: (N, K) intensities in `AU_CODES` order, NaN-free.
        asymmetry: (N, 2) left/right differences (0–5) of `ONE_SIDED_AUS`, or None.
        profile: the estimator's profile, whose measured AUs count (default `MESH_PROFILE`).
    """
    support, oppose, unilateral = profile_of(profile).matrices
    a = np.clip(aus / 5.0, 0.0, 1.0)
    out = a @ support - 0.5 * (a[:, :, None] * oppose[None]).max(axis=1)
    if asymmetry is not None:
        out += (asymmetry / 5.0) @ unilateral
    return out.astype(np.float32)


def evidence_probabilities(evidence: np.ndarray, neutral_evidence: float = NEUTRAL_EVIDENCE,
                           temperature: float = EVIDENCE_TEMPERATURE) -> np.ndarray:
    """(N, 8) softmax of AU evidence / temperature with neutral at its fixed level."""
    ev = evidence.astype(np.float64).copy()
    ev[:, 0] = neutral_evidence
    logits = ev / temperature
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
