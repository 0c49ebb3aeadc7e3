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

from dataclasses import dataclass

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

#: Landmark-geometry sources (not blendshapes): computed by the AU estimator from the 478-point mesh.
GEOMETRY_LIPS_APART = "geom:lips_apart"


@dataclass(frozen=True)
class ActionUnit:
    """One facial action unit and how ferx estimates it.

    Attributes:
        number: FACS AU number.
        name: FACS name.
        description: plain-language description of the appearance change.
        region: facial region (used for grouping and for AU heatmaps).
        landmarks: MediaPipe mesh indices that locate the AU's region (centres of AU heatmap blobs).
        sources: blendshape names (or a `geom:` source) the estimate is read from; left/right pairs
            are combined by taking the stronger side, as a FACS coder scores the more intense side.
        rest: source value at which the AU starts (maps to intensity 0).
        full: source value at which the AU is at maximum intensity E (maps to 5).
    """

    number: int
    name: str
    description: str
    region: str
    landmarks: tuple[int, ...]
    sources: tuple[str, ...]
    rest: float
    full: float

    @property
    def code(self) -> str:
        return f"AU{self.number}"


# rest/full calibration: `rest` sits above what neutral faces typically show (so a neutral face reads
# as absent) and `full` near the top of what strongly expressive faces reach. Values come from
# benchmarks/calibrate_aus.py on lfw-expressions (neutral vs expressive photos); see docs/results.md.
AU_TABLE: tuple[ActionUnit, ...] = (
    ActionUnit(1, "Inner Brow Raiser", "inner ends of the eyebrows pulled up", "brows",
               (107, 336), ("browInnerUp",), 0.10, 0.80),
    ActionUnit(2, "Outer Brow Raiser", "outer parts of the eyebrows pulled up", "brows",
               (105, 334), ("browOuterUpLeft", "browOuterUpRight"), 0.05, 0.75),
    ActionUnit(4, "Brow Lowerer", "eyebrows lowered and drawn together", "brows",
               (107, 336, 9), ("browDownLeft", "browDownRight"), 0.10, 0.70),
    ActionUnit(5, "Upper Lid Raiser", "upper eyelids raised, eyes widened", "eyes",
               (159, 386), ("eyeWideLeft", "eyeWideRight"), 0.10, 0.60),
    ActionUnit(6, "Cheek Raiser", "cheeks raised, crow's feet at the eye corners", "cheeks",
               (50, 280), ("cheekSquintLeft", "cheekSquintRight"), 0.10, 0.70),
    ActionUnit(7, "Lid Tightener", "eyelids tightened, lower lids raised", "eyes",
               (145, 374), ("eyeSquintLeft", "eyeSquintRight"), 0.25, 0.85),
    ActionUnit(9, "Nose Wrinkler", "skin along the nose wrinkled, nostrils raised", "nose",
               (129, 358), ("noseSneerLeft", "noseSneerRight"), 0.05, 0.50),
    ActionUnit(10, "Upper Lip Raiser", "upper lip raised", "mouth",
               (37, 267), ("mouthUpperUpLeft", "mouthUpperUpRight"), 0.10, 0.75),
    ActionUnit(12, "Lip Corner Puller", "lip corners pulled up and back (smile)", "mouth",
               (61, 291), ("mouthSmileLeft", "mouthSmileRight"), 0.10, 0.85),
    ActionUnit(14, "Dimpler", "lip corners tightened into dimples", "mouth",
               (61, 291), ("mouthDimpleLeft", "mouthDimpleRight"), 0.05, 0.40),
    ActionUnit(15, "Lip Corner Depressor", "lip corners pulled down", "mouth",
               (61, 291), ("mouthFrownLeft", "mouthFrownRight"), 0.03, 0.40),
    ActionUnit(16, "Lower Lip Depressor", "lower lip pulled down", "mouth",
               (14, 17), ("mouthLowerDownLeft", "mouthLowerDownRight"), 0.10, 0.60),
    ActionUnit(17, "Chin Raiser", "chin boss pushed up, lower lip pushed up", "chin",
               (199,), ("mouthShrugLower",), 0.15, 0.70),
    ActionUnit(18, "Lip Pucker", "lips pushed forward and puckered", "mouth",
               (0, 17), ("mouthPucker",), 0.25, 0.90),
    ActionUnit(20, "Lip Stretcher", "lip corners stretched sideways", "mouth",
               (61, 291), ("mouthStretchLeft", "mouthStretchRight"), 0.05, 0.50),
    ActionUnit(23, "Lip Tightener", "lips tightened and narrowed", "mouth",
               (0, 17), ("mouthRollLower", "mouthRollUpper"), 0.10, 0.60),
    ActionUnit(24, "Lip Pressor", "lips pressed together", "mouth",
               (13, 14), ("mouthPressLeft", "mouthPressRight"), 0.15, 0.70),
    ActionUnit(25, "Lips Part", "lips apart", "mouth",
               (13, 14), (GEOMETRY_LIPS_APART,), 0.04, 0.40),
    ActionUnit(26, "Jaw Drop", "jaw lowered, mouth open", "jaw",
               (14, 152), ("jawOpen",), 0.05, 0.60),
    ActionUnit(43, "Eyes Closed", "eyes closed (AU45 blink looks the same in a still image)", "eyes",
               (159, 145, 386, 374), ("eyeBlinkLeft", "eyeBlinkRight"), 0.40, 0.85),
)

AU_NUMBERS: tuple[int, ...] = tuple(au.number for au in AU_TABLE)
AU_CODES: tuple[str, ...] = tuple(au.code for au in AU_TABLE)
AU_BY_NUMBER: dict[int, ActionUnit] = {au.number: au for au in AU_TABLE}


def au_index(number: int) -> int:
    """Column of AU `number` in ferx's AU arrays."""
    try:
        return AU_NUMBERS.index(number)
    except ValueError:
        raise KeyError(f"AU{number} is not in ferx's AU table ({', '.join(AU_CODES)})") from None


def intensity_band(intensity: float) -> str | None:
    """FACS band letter for a 0–5 intensity, or None when the AU is absent (< OCCURRENCE_THRESHOLD)."""
    if not np.isfinite(intensity) or intensity < OCCURRENCE_THRESHOLD:
        return None
    return BANDS[min(4, int(round(float(intensity))) - 1)]


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
        Prototype("happiness", {12: 1.0, 6: 0.7, 25: 0.2}, opposes=(15, 4)),
        Prototype("surprise", {1: 0.8, 2: 0.8, 5: 0.8, 26: 1.0, 25: 0.3}, opposes=(4, 12)),
        Prototype("sadness", {1: 0.8, 4: 0.6, 15: 1.0, 17: 0.4}, opposes=(12, 2)),
        Prototype("anger", {4: 1.0, 5: 0.3, 7: 0.6, 23: 0.6, 24: 0.6}, opposes=(12, 1, 2)),
        Prototype("disgust", {9: 1.0, 10: 0.8, 15: 0.3, 17: 0.3}, opposes=(12,)),
        Prototype("fear", {1: 0.8, 2: 0.5, 4: 0.6, 5: 0.8, 20: 1.0, 26: 0.4, 25: 0.3}, opposes=(12,)),
        Prototype("contempt", {14: 1.0, 12: 0.5}, unilateral=(14, 12)),
    )
}

#: The AU codebook of Belharbi et al. (FG 2024, Table 1) used to build AU heatmaps for training;
#: neutral has none (no alignment loss). AU27 is not estimated by ferx; heatmaps place it with AU26.
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


# -- reading AUs from blendshapes ----------------------------------------------------------------
# Mesh points for the lips-apart geometry: inner lip midpoints and outer eye corners (scale).
_INNER_UPPER_LIP, _INNER_LOWER_LIP, _EYE_OUTER_A, _EYE_OUTER_B = 13, 14, 33, 263


def lips_apart(landmarks: np.ndarray) -> np.ndarray:
    """(N,) gap between the inner lips divided by the outer-eye-corner distance (2-D, image plane)."""
    gap = np.linalg.norm(landmarks[:, _INNER_UPPER_LIP, :2] - landmarks[:, _INNER_LOWER_LIP, :2], axis=1)
    scale = np.linalg.norm(landmarks[:, _EYE_OUTER_A, :2] - landmarks[:, _EYE_OUTER_B, :2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gap / scale


def source_values(au: ActionUnit, blendshapes: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(N, S) raw values of the AU's sources (S = 2 for a left/right pair)."""
    cols = []
    for src in au.sources:
        if src == GEOMETRY_LIPS_APART:
            if landmarks is None:
                cols.append(np.full(blendshapes.shape[0], np.nan, np.float32))
            else:
                cols.append(lips_apart(landmarks))
        else:
            cols.append(blendshapes[:, BLENDSHAPE_INDEX[src]])
    return np.stack(cols, axis=1).astype(np.float32)


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
