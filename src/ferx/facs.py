"""The one table of facial action units (AUs) and the emotion codebooks.

Everything in ferx that needs to know what an AU is — the AU estimator, the expression scorer, the
annotator, and later the AU heatmaps and the chain of thought — reads it from here.

AU intensities in ferx are *estimates* derived from MediaPipe's 52 learned blendshape scores (and,
for AU25, from landmark geometry). They are not certified FACS codes: a FACS coder scores
appearance changes on video, while the blendshape model was trained to drive an avatar. The table
records which blendshape(s) each AU is read from and the calibration that maps a blendshape score
to the 0–5 FACS intensity scale (0 = absent, 1–5 = bands A–E).

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

#: Landmark-geometry sources (not blendshapes), computed from the 478-point mesh (see GEOMETRY below).
GEOMETRY_LIPS_APART = "geom:lips_apart"
GEOMETRY_EYE_NARROWING = "geom:eye_narrowing"
GEOMETRY_CHEEK_RAISE = "geom:cheek_raise"
GEOMETRY_BROW_LOWER = "geom:brow_lower"
GEOMETRY_LIP_CORNER_DROP = "geom:lip_corner_drop"
GEOMETRY_LIP_PRESS = "geom:lip_press"
GEOMETRY_LIP_NARROW = "geom:lip_narrow"

#: Reliability grades of an AU estimate, best first (see `ActionUnit.reliability`). The grade is the
#: AUC with which the estimate separates faces whose label's prototype uses the AU from neutral
#: faces, measured on the identity half A of lfw-expressions (benchmarks/bench_au_validity.py):
#: good >= 0.75, fair >= 0.65, weak >= 0.58, unreliable below (0.5 is chance).
RELIABILITY_GRADES: tuple[str, ...] = ("good", "fair", "weak", "unreliable", "ungraded")
RELIABILITY_EDGES: dict[str, float] = {"good": 0.75, "fair": 0.65, "weak": 0.58}
#: Blendshape-derived sources (functions of the 52 scores, see DERIVED below).
DERIVED_UPPER_LIP_BEYOND_SMILE = "bs:upper_lip_beyond_smile"


@dataclass(frozen=True)
class ActionUnit:
    """One facial action unit and how ferx estimates it.

    Attributes:
        number: FACS AU number.
        name: FACS name.
        description: plain-language description of the appearance change.
        region: facial region (used for grouping and for AU heatmaps).
        landmarks: MediaPipe mesh indices that locate the AU's region (centres of AU heatmap blobs).
        sources: blendshape names (or a `geom:` / `bs:` source) the estimate is read from; left/right pairs
            are combined by taking the stronger side, as a FACS coder scores the more intense side.
        rest: source value at which the AU starts (maps to intensity 0).
        full: source value at which the AU is at maximum intensity E (maps to 5).
        note: known limitation of the estimate, shown to users and in explanations.
        validity: measured AUC with which the estimate separates faces whose label's prototype
            uses the AU from neutral faces (lfw-expressions identity half A; contempt's AU14 on FER+
            train, where contempt has enough faces); None for AUs in no prototype (no expression
            label can check them). benchmarks/bench_au_validity.py prints it.
        grade_cap: the best grade the estimate may have whatever its validity (an estimator sets it
            where the AUC overstates what is measured, e.g. two heads that read the same thing).
    """

    number: int
    name: str
    description: str
    region: str
    landmarks: tuple[int, ...]
    sources: tuple[str, ...]
    rest: float
    full: float
    note: str = ""
    validity: float | None = None
    grade_cap: str | None = None

    @property
    def code(self) -> str:
        return f"AU{self.number}"

    @property
    def reliability(self) -> str:
        """Grade of the estimate (`RELIABILITY_GRADES`) from its measured `validity`."""
        return grade_of(self.validity, self.grade_cap)

    @property
    def absence_reliable(self) -> bool:
        """True when the estimate is good enough to state that the AU is absent (grade good or
        fair): a weak estimate misses too many real occurrences for "absent" to be said."""
        return self.reliability in ("good", "fair")

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


# rest/full calibration: `rest` sits near the 90th percentile of neutral faces (so a neutral face
# mostly reads as absent) and `full` near the 90th–95th percentile of the expressions that use the
# AU. Measured with benchmarks/calibrate_aus.py on the 2,281 lfw-expressions photos where a face was
# found (docs/results.md). MediaPipe's cheekSquint and noseSneer outputs were 0.000 at the 90th
# percentile for every label, so AU6 is read from landmark geometry (the infraorbital cheek rising
# towards the lower lid separated happy from neutral faces with AUC 0.69, eyeSquint with 0.60) and
# AU9 is effectively never detected by this backend.
_AU_ROWS: tuple[ActionUnit, ...] = (
    ActionUnit(1, "Inner Brow Raiser", "inner ends of the eyebrows pulled up", "brows",
               (107, 336), ("browInnerUp",), 0.30, 0.75),
    ActionUnit(2, "Outer Brow Raiser", "outer parts of the eyebrows pulled up", "brows",
               (105, 334), ("browOuterUpLeft", "browOuterUpRight"), 0.35, 0.80),
    ActionUnit(4, "Brow Lowerer", "eyebrows lowered and drawn together", "brows",
               (107, 336, 9), (GEOMETRY_BROW_LOWER,), 0.05, 0.13,
               "from the inner brow's height over the eye; brow shape varies it between people"),
    ActionUnit(5, "Upper Lid Raiser", "upper eyelids raised, eyes widened", "eyes",
               (159, 386), ("eyeWideLeft", "eyeWideRight"), 0.05, 0.20),
    ActionUnit(6, "Cheek Raiser", "cheeks raised, eyes narrowed from below, crow's feet", "cheeks",
               (50, 280), (GEOMETRY_CHEEK_RAISE,), 0.12, 0.30,
               "from the cheek rising towards the lower lid (MediaPipe's cheekSquint is ~0 on every "
               "face measured); face shape varies it between people"),
    ActionUnit(7, "Lid Tightener", "eyelids tightened, eye opening narrowed", "eyes",
               (145, 374), (GEOMETRY_EYE_NARROWING,), 0.35, 0.75,
               "from the eye opening's height; looking down and cheek raising narrow it too"),
    ActionUnit(9, "Nose Wrinkler", "skin along the nose wrinkled, nostrils raised", "nose",
               (129, 358), ("noseSneerLeft", "noseSneerRight"), 0.05, 0.50,
               "rarely detected: MediaPipe's noseSneer output is ~0 on every face measured"),
    ActionUnit(10, "Upper Lip Raiser", "upper lip raised", "mouth",
               (37, 267), (DERIVED_UPPER_LIP_BEYOND_SMILE,), 0.05, 0.50,
               "upper-lip raise beyond what the smile (AU12) itself produces"),
    ActionUnit(12, "Lip Corner Puller", "lip corners pulled up and back (smile)", "mouth",
               (61, 291), ("mouthSmileLeft", "mouthSmileRight"), 0.10, 0.85),
    ActionUnit(14, "Dimpler", "lip corners tightened into dimples", "mouth",
               (61, 291), ("mouthDimpleLeft", "mouthDimpleRight"), 0.06, 0.25),
    ActionUnit(15, "Lip Corner Depressor", "lip corners pulled down", "mouth",
               (61, 291), ("mouthFrownLeft", "mouthFrownRight"), 0.06, 0.30,
               "MediaPipe's mouthFrown; the corners' height below the mouth's middle (geom:lip_corner_drop) "
               "separated sad from neutral faces no better (AUC 0.54 both, lfw half A + FER+ val)"),
    ActionUnit(16, "Lower Lip Depressor", "lower lip pulled down", "mouth",
               (14, 17), ("mouthLowerDownLeft", "mouthLowerDownRight"), 0.30, 0.85),
    ActionUnit(17, "Chin Raiser", "chin boss pushed up, lower lip pushed up", "chin",
               (199,), ("mouthShrugLower",), 0.08, 0.45),
    ActionUnit(18, "Lip Pucker", "lips pushed forward and puckered", "mouth",
               (0, 17), ("mouthPucker",), 0.30, 0.70),
    ActionUnit(20, "Lip Stretcher", "lip corners stretched sideways", "mouth",
               (61, 291), ("mouthStretchLeft", "mouthStretchRight"), 0.08, 0.50),
    ActionUnit(22, "Lip Funneler", "lips funnelled outwards", "mouth",
               (0, 17), ("mouthFunnel",), 0.15, 0.50),
    ActionUnit(23, "Lip Tightener", "lips tightened and narrowed", "mouth",
               (0, 17), (GEOMETRY_LIP_NARROW,), 0.04, 0.15,
               "from the lip red thinning while the mouth narrows (not from lips rolled inward, AU28)"),
    ActionUnit(24, "Lip Pressor", "lips pressed together", "mouth",
               (13, 14), (GEOMETRY_LIP_PRESS,), 0.18, 0.45,
               "from the red of closed lips thinning; lips rolled inward (AU28) look the same"),
    ActionUnit(25, "Lips Part", "lips apart", "mouth",
               (13, 14), (GEOMETRY_LIPS_APART,), 0.05, 0.30),
    ActionUnit(26, "Jaw Drop", "jaw lowered, mouth open", "jaw",
               (14, 152), ("jawOpen",), 0.12, 0.50),
    ActionUnit(27, "Mouth Stretch", "mouth stretched wide open, jaw pulled far down", "jaw",
               (14, 152), (GEOMETRY_LIPS_APART,), 0.30, 0.55),
    ActionUnit(43, "Eyes Closed", "eyes closed (AU45 blink looks the same in a still image)", "eyes",
               (159, 145, 386, 374), ("eyeBlinkLeft", "eyeBlinkRight"), 0.45, 0.85),
)

#: Measured validity of each AU estimate (`ActionUnit.validity`): AUC of the intensity, faces of the
#: labels whose prototype holds the AU as defining (else all that use it) against neutral faces,
#: mean of lfw-expressions identity half A and FER+ val (the data choices are made on; AU14 on FER+
#: val alone, lfw has 4 contempt faces). `python benchmarks/bench_au_validity.py`, 2026-11-30,
#: docs/results.md "Issue 11". AU18, AU22 and AU43 are in no prototype: ungraded.
AU_VALIDITY: dict[int, float] = {
    1: 0.60, 2: 0.65, 4: 0.61, 5: 0.70, 6: 0.63, 7: 0.57, 9: 0.50, 10: 0.52, 12: 0.88, 14: 0.65,
    15: 0.54, 16: 0.52, 17: 0.52, 20: 0.60, 23: 0.49, 24: 0.47, 25: 0.69, 26: 0.78, 27: 0.53,
}
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
    """FACS band letter for a 0–5 intensity, or None when the AU is absent (< OCCURRENCE_THRESHOLD)."""
    if not np.isfinite(intensity) or intensity < OCCURRENCE_THRESHOLD:
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
        # 1+2+5B+26 or 27 (AU27 weighs little: ferx reads it as a wider AU25, so it comes with 25/26).
        Prototype("surprise", {1: 0.8, 2: 0.8, 5: 0.8, 26: 1.0, 25: 0.3, 27: 0.3}, opposes=(4, 12)),
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


# -- reading AUs from blendshapes and geometry -----------------------------------------------------
# Mesh points: inner lip midpoints (13, 14), outer eye corners (33, 263) as the face's scale, and the
# mid upper/lower eyelids (159/145 right eye, 386/374 left eye).
_INNER_UPPER_LIP, _INNER_LOWER_LIP, _EYE_OUTER_A, _EYE_OUTER_B = 13, 14, 33, 263
_LIDS = ((159, 145), (386, 374))
#: Eye opening (lid gap / eye-corner distance) of a relaxed open eye: the median neutral lfw face.
_OPEN_EYE_APERTURE = 0.10
# Infraorbital cheek points under each eye (118 right, 347 left) and the lower-lid midpoints.
_CHEEK_UNDER_LID = ((118, 145), (347, 374))
#: Cheek-point-to-lower-lid height / eye-corner distance on the median neutral lfw face.
_RELAXED_CHEEK_GAP = 0.183


def _face_scale(landmarks: np.ndarray) -> np.ndarray:
    return np.linalg.norm(landmarks[:, _EYE_OUTER_A, :2] - landmarks[:, _EYE_OUTER_B, :2], axis=1)


def lips_apart(landmarks: np.ndarray) -> np.ndarray:
    """(N,) gap between the inner lips divided by the outer-eye-corner distance (2-D, image plane)."""
    gap = np.linalg.norm(landmarks[:, _INNER_UPPER_LIP, :2] - landmarks[:, _INNER_LOWER_LIP, :2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gap / _face_scale(landmarks)


def eye_narrowing(landmarks: np.ndarray) -> np.ndarray:
    """(N, 2) per eye: how much narrower than a relaxed open eye it is (0 = open or wider, 1 = shut)."""
    scale = _face_scale(landmarks)
    out = []
    for upper, lower in _LIDS:
        gap = np.linalg.norm(landmarks[:, upper, :2] - landmarks[:, lower, :2], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.clip(1.0 - gap / scale / _OPEN_EYE_APERTURE, 0.0, 1.0))
    return np.stack(out, axis=1)


def cheek_raise(landmarks: np.ndarray) -> np.ndarray:
    """(N, 2) per side: how much closer the infraorbital cheek point is to the lower lid than on a
    relaxed face, measured perpendicular to the eye line (0 = relaxed or lower, 1 = touching)."""
    scale = _face_scale(landmarks)
    eye_line = landmarks[:, _EYE_OUTER_B, :2] - landmarks[:, _EYE_OUTER_A, :2]
    with np.errstate(invalid="ignore", divide="ignore"):
        down = np.stack([-eye_line[:, 1], eye_line[:, 0]], axis=1) / np.linalg.norm(eye_line, axis=1, keepdims=True)
        out = []
        for cheek, lid in _CHEEK_UNDER_LID:
            gap = ((landmarks[:, cheek, :2] - landmarks[:, lid, :2]) * down).sum(axis=1) / scale
            out.append(np.clip(1.0 - gap / _RELAXED_CHEEK_GAP, 0.0, 1.0))
    return np.stack(out, axis=1)


def _up(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) unit vector pointing up the face (perpendicular to the eye line) and (N,) face scale.

    Heights measured along it do not change when the head rolls."""
    eye_line = landmarks[:, _EYE_OUTER_B, :2] - landmarks[:, _EYE_OUTER_A, :2]
    scale = np.linalg.norm(eye_line, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        up = np.stack([eye_line[:, 1], -eye_line[:, 0]], axis=1) / scale[:, None]
    return up, scale


def _height(landmarks: np.ndarray, above: np.ndarray, below: np.ndarray, up: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(N,) how far point(s) `above` lie above `below` along `up`, in units of the face scale."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((above - below) * up).sum(axis=1) / scale


# Inner end of each brow's lower edge (55 right, 285 left) and each eye's corners (33/133, 263/362).
_BROW_OVER_EYE = ((55, (33, 133)), (285, (263, 362)))
#: Inner-brow height above the eye-corner midpoint / eye-corner distance on the median neutral face
#: of lfw-expressions half A.
_RELAXED_BROW_HEIGHT = 0.148


def brow_lower(landmarks: np.ndarray) -> np.ndarray:
    """(N, 2) per side: how far the inner brow sits below its relaxed height over the eye (face scales;
    0 = relaxed, negative = raised). AU4 lowers the brows; browDown separates angry from neutral
    faces with AUC 0.57 on lfw-expressions, this height with 0.68 (docs/results.md)."""
    up, scale = _up(landmarks)
    out = []
    for brow, (c1, c2) in _BROW_OVER_EYE:
        eye = (landmarks[:, c1, :2] + landmarks[:, c2, :2]) / 2
        out.append(_RELAXED_BROW_HEIGHT - _height(landmarks, landmarks[:, brow, :2], eye, up, scale))
    return np.stack(out, axis=1)


# Lip corners (61 right, 291 left) and the outer midpoints of the upper (0) and lower (17) lip.
_LIP_CORNERS, _OUTER_UPPER_LIP, _OUTER_LOWER_LIP = (61, 291), 0, 17


def lip_corner_drop(landmarks: np.ndarray) -> np.ndarray:
    """(N, 2) per side: how far the lip corner lies below the middle of the mouth (the midpoint of the
    outer lip midpoints), in face scales. AU15 pulls the corners down, AU12 up."""
    up, scale = _up(landmarks)
    centre = (landmarks[:, _OUTER_UPPER_LIP, :2] + landmarks[:, _OUTER_LOWER_LIP, :2]) / 2
    return np.stack([_height(landmarks, centre, landmarks[:, c, :2], up, scale) for c in _LIP_CORNERS], axis=1)


#: Lip-red height (outer minus inner lip, upper + lower) / face scale, and mouth width / face scale,
#: on the median neutral face of lfw-expressions half A with closed lips.
_RELAXED_LIP_RED, _RELAXED_MOUTH_WIDTH = 0.169, 0.572
#: Lips closer than this (gap / face scale) count as closed: AU24 presses closed lips together.
_LIPS_CLOSED = 0.03


def _lip_red(landmarks: np.ndarray) -> np.ndarray:
    scale = _face_scale(landmarks)
    upper = np.linalg.norm(landmarks[:, _OUTER_UPPER_LIP, :2] - landmarks[:, _INNER_UPPER_LIP, :2], axis=1)
    lower = np.linalg.norm(landmarks[:, _INNER_LOWER_LIP, :2] - landmarks[:, _OUTER_LOWER_LIP, :2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (upper + lower) / scale


def lip_press(landmarks: np.ndarray) -> np.ndarray:
    """(N,) AU24: how much thinner than relaxed the red of closed lips is (fraction; 0 when the lips
    are apart or the red is at least relaxed). Rolling the lips inward (AU28) thins it too."""
    thinning = np.clip(1.0 - _lip_red(landmarks) / _RELAXED_LIP_RED, 0.0, 1.0)
    return np.where(lips_apart(landmarks) < _LIPS_CLOSED, thinning, 0.0)


def lip_narrow(landmarks: np.ndarray) -> np.ndarray:
    """(N,) AU23: the lips thinned AND the mouth narrowed (the smaller of the two fractions), so that
    neither a wide stretched mouth (AU20) nor a pout (AU18) alone reads as lip tightening."""
    scale = _face_scale(landmarks)
    width = np.linalg.norm(landmarks[:, _LIP_CORNERS[0], :2] - landmarks[:, _LIP_CORNERS[1], :2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        narrowing = np.clip(1.0 - width / scale / _RELAXED_MOUTH_WIDTH, 0.0, 1.0)
    thinning = np.clip(1.0 - _lip_red(landmarks) / _RELAXED_LIP_RED, 0.0, 1.0)
    return np.minimum(narrowing, thinning)


#: Geometry sources: name → function of (N, 478, 3) landmarks giving (N,) or (N, 2) (left/right) values.
GEOMETRY = {
    GEOMETRY_LIPS_APART: lips_apart,
    GEOMETRY_EYE_NARROWING: eye_narrowing,
    GEOMETRY_CHEEK_RAISE: cheek_raise,
    GEOMETRY_BROW_LOWER: brow_lower,
    GEOMETRY_LIP_CORNER_DROP: lip_corner_drop,
    GEOMETRY_LIP_PRESS: lip_press,
    GEOMETRY_LIP_NARROW: lip_narrow,
}


#: How much of MediaPipe's mouthUpperUp a smile explains, per unit of mouthSmile on the same side.
#: mouthUpperUp rises with broad smiles (upper teeth shown): read plainly, AU10 was active on 47 %
#: of lfw-expressions happiness faces against 5 % of disgust and 6 % of neutral ones (300 photos
#: per label). FACS does not score AU10 for the lip raise that a strong AU12 causes, so the smile's
#: share is taken off; at 0.8 happiness falls to 8 % while neutral, surprise, sadness and disgust
#: move by at most 2 points (anger 30 → 16 %: some angry faces there smile or grimace).
UPPER_LIP_SMILE_SHARE: float = 0.8


def upper_lip_beyond_smile(blendshapes: np.ndarray) -> np.ndarray:
    """(N, 2) left/right mouthUpperUp minus UPPER_LIP_SMILE_SHARE × mouthSmile, floored at 0."""
    up = blendshapes[:, [BLENDSHAPE_INDEX["mouthUpperUpLeft"], BLENDSHAPE_INDEX["mouthUpperUpRight"]]]
    smile = blendshapes[:, [BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"]]]
    return np.maximum(up - UPPER_LIP_SMILE_SHARE * smile, 0.0)


#: Derived sources: name → function of (N, 52) blendshapes giving (N, S) values.
DERIVED = {DERIVED_UPPER_LIP_BEYOND_SMILE: upper_lip_beyond_smile}


def source_values(au: ActionUnit, blendshapes: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(N, S) raw values of the AU's sources (S = 2 for a left/right pair)."""
    cols = []
    for src in au.sources:
        if src in GEOMETRY:
            if landmarks is None:
                cols.append(np.full((blendshapes.shape[0], 1), np.nan, np.float32))
            else:
                cols.append(np.asarray(GEOMETRY[src](landmarks), np.float32).reshape(blendshapes.shape[0], -1))
        elif src in DERIVED:
            cols.append(np.asarray(DERIVED[src](blendshapes), np.float32).reshape(blendshapes.shape[0], -1))
        else:
            cols.append(blendshapes[:, BLENDSHAPE_INDEX[src]][:, None])
    return np.concatenate(cols, axis=1).astype(np.float32)


def to_intensity(au: ActionUnit, value: np.ndarray) -> np.ndarray:
    """Map raw source values to the 0–5 FACS scale with the AU's rest/full calibration."""
    return (5.0 * np.clip((value - au.rest) / (au.full - au.rest), 0.0, 1.0)).astype(np.float32)


def au_intensities(blendshapes: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(N, K) intensities for every AU in AU_TABLE; a bilateral AU takes its stronger side."""
    return np.stack([to_intensity(au, source_values(au, blendshapes, landmarks).max(axis=1)) for au in AU_TABLE], 1)


def au_asymmetry(number: int, blendshapes: np.ndarray) -> np.ndarray:
    """(N,) |left − right| of a bilateral AU on the 0–5 scale (0 for AUs read from one source)."""
    au = AU_BY_NUMBER[number]
    sides = source_values(au, blendshapes, None)
    if sides.shape[1] != 2:
        return np.zeros(blendshapes.shape[0], np.float32)
    return np.abs(to_intensity(au, sides[:, 0]) - to_intensity(au, sides[:, 1]))


def one_sidedness(aus: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
    """(N, len(ONE_SIDED_AUS)) left/right difference of each one-sided-evidence AU, on the 0–5
    scale, never more than the AU's reported intensity: the sides come from the blendshapes, the
    intensity from whichever estimator filled `aus` (an image head may read a weaker AU14 than the
    mesh's stronger side). For the mesh estimator the bound changes nothing (its intensity is the
    stronger side).

    Args:
        aus: (N, K) intensities in `AU_CODES` order (NaN read as 0).
        blendshapes: (N, 52).
    """
    diff = np.stack([au_asymmetry(n, blendshapes) for n in ONE_SIDED_AUS], axis=1)
    level = np.nan_to_num(aus[:, [au_index(n) for n in ONE_SIDED_AUS]], nan=0.0)
    return np.minimum(diff, np.maximum(level, 0.0)).astype(np.float32)


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


#: AU-evidence scoring chosen on lfw-expressions identity half A (benchmarks/bench_au_validity.py):
#: the neutral level by accuracy, then the temperature by log-loss, so AU-only percentages are
#: calibrated (the earlier 0.05 gave a mean top probability of 0.76 at 44 % accuracy).
NEUTRAL_EVIDENCE: float = 0.19
EVIDENCE_TEMPERATURE: float = 0.2

@dataclass(frozen=True, eq=False)
class AUProfile:
    """How well one AU estimator measures each AU, and how AU evidence from it is scored.

    Grades belong to the estimator, not to the AU: the mesh estimate of AU4 is weak, the image
    heads' is good. Every AU estimator stage puts its profile on the faces it fills
    (`Faces.au_profile`), and everything that grades, scores or words AUs (the explainer, the
    `au-codebook` classifier, the JSON output, the report, the annotation) reads it from there.

    Attributes:
        name: the estimator it describes ("blendshapes", "image-heads:au-heads", ...).
        validity: AU number → measured AUC of its estimate (`ActionUnit.validity`); AUs not listed
            are ungraded.
        neutral_evidence, temperature: the AU-evidence scoring (`evidence_probabilities`) chosen
            on validation data for this estimator.
        caps: AU number → best grade allowed (`ActionUnit.grade_cap`).
    """

    name: str
    validity: Mapping[int, float] = field(default_factory=dict)
    neutral_evidence: float = NEUTRAL_EVIDENCE
    temperature: float = EVIDENCE_TEMPERATURE
    caps: Mapping[int, str] = field(default_factory=dict)

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
        set_(self, "validity", MappingProxyType(validity))  # read-only: units and matrices derive from them
        set_(self, "caps", MappingProxyType(caps))
        units = tuple(replace(au, validity=validity.get(au.number), grade_cap=caps.get(au.number)) for au in _AU_ROWS)
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
                "caps": {f"AU{k}": v for k, v in sorted(self.caps.items())}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AUProfile:
        validity = {int(str(k).upper().removeprefix("AU")): float(v) for k, v in d.get("validity", {}).items()}
        caps = {int(str(k).upper().removeprefix("AU")): str(v) for k, v in (d.get("caps") or {}).items()}
        return cls(str(d.get("name", "unknown")), validity, float(d.get("neutral_evidence", NEUTRAL_EVIDENCE)),
                   float(d.get("temperature", EVIDENCE_TEMPERATURE)), caps)


#: The mesh/blendshape estimator's profile (`blendshapes` backend): `AU_VALIDITY` and the scoring
#: above. Also what AUs from an unknown source (e.g. JSON written before profiles) are read with.
MESH_PROFILE = AUProfile("blendshapes", AU_VALIDITY, NEUTRAL_EVIDENCE, EVIDENCE_TEMPERATURE)


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
