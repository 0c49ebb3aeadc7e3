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

#: Landmark-geometry sources (not blendshapes), computed from the 478-point mesh (see GEOMETRY below).
GEOMETRY_LIPS_APART = "geom:lips_apart"
GEOMETRY_EYE_NARROWING = "geom:eye_narrowing"
GEOMETRY_CHEEK_RAISE = "geom:cheek_raise"
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

    @property
    def code(self) -> str:
        return f"AU{self.number}"


# rest/full calibration: `rest` sits near the 90th percentile of neutral faces (so a neutral face
# mostly reads as absent) and `full` near the 90th–95th percentile of the expressions that use the
# AU. Measured with benchmarks/calibrate_aus.py on the 2,281 lfw-expressions photos where a face was
# found (docs/results.md). MediaPipe's cheekSquint and noseSneer outputs were 0.000 at the 90th
# percentile for every label, so AU6 is read from landmark geometry (the infraorbital cheek rising
# towards the lower lid separated happy from neutral faces with AUC 0.69, eyeSquint with 0.60) and
# AU9 is effectively never detected by this backend.
AU_TABLE: tuple[ActionUnit, ...] = (
    ActionUnit(1, "Inner Brow Raiser", "inner ends of the eyebrows pulled up", "brows",
               (107, 336), ("browInnerUp",), 0.30, 0.75),
    ActionUnit(2, "Outer Brow Raiser", "outer parts of the eyebrows pulled up", "brows",
               (105, 334), ("browOuterUpLeft", "browOuterUpRight"), 0.35, 0.80),
    ActionUnit(4, "Brow Lowerer", "eyebrows lowered and drawn together", "brows",
               (107, 336, 9), ("browDownLeft", "browDownRight"), 0.35, 0.80),
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
               (61, 291), ("mouthFrownLeft", "mouthFrownRight"), 0.06, 0.30),
    ActionUnit(16, "Lower Lip Depressor", "lower lip pulled down", "mouth",
               (14, 17), ("mouthLowerDownLeft", "mouthLowerDownRight"), 0.30, 0.85),
    ActionUnit(17, "Chin Raiser", "chin boss pushed up, lower lip pushed up", "chin",
               (199,), ("mouthShrugLower",), 0.10, 0.45),
    ActionUnit(18, "Lip Pucker", "lips pushed forward and puckered", "mouth",
               (0, 17), ("mouthPucker",), 0.30, 0.70),
    ActionUnit(20, "Lip Stretcher", "lip corners stretched sideways", "mouth",
               (61, 291), ("mouthStretchLeft", "mouthStretchRight"), 0.08, 0.50),
    ActionUnit(23, "Lip Tightener", "lips tightened and narrowed", "mouth",
               (0, 17), ("mouthRollLower", "mouthRollUpper"), 0.25, 0.60,
               "read from mouthRoll (lips rolled in), the closest blendshape"),
    ActionUnit(24, "Lip Pressor", "lips pressed together", "mouth",
               (13, 14), ("mouthPressLeft", "mouthPressRight"), 0.22, 0.60),
    ActionUnit(25, "Lips Part", "lips apart", "mouth",
               (13, 14), (GEOMETRY_LIPS_APART,), 0.05, 0.30),
    ActionUnit(26, "Jaw Drop", "jaw lowered, mouth open", "jaw",
               (14, 152), ("jawOpen",), 0.12, 0.50),
    ActionUnit(43, "Eyes Closed", "eyes closed (AU45 blink looks the same in a still image)", "eyes",
               (159, 145, 386, 374), ("eyeBlinkLeft", "eyeBlinkRight"), 0.45, 0.85),
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
        Prototype("happiness", {12: 1.0, 6: 0.7, 25: 0.2}, opposes=(15,)),  # AU4 often joins a broad smile
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


#: Geometry sources: name → function of (N, 478, 3) landmarks giving (N,) or (N, 2) (left/right) values.
GEOMETRY = {
    GEOMETRY_LIPS_APART: lips_apart,
    GEOMETRY_EYE_NARROWING: eye_narrowing,
    GEOMETRY_CHEEK_RAISE: cheek_raise,
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
        absent: AUs that must be absent for the pattern (AU12 without AU6 is a non-Duchenne smile).
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
    absent: tuple[int, ...] = ()
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
INTERACTIONS: tuple[Interaction, ...] = (
    Interaction("duchenne_smile", (6, 12), ("happiness",), source="Ekman, Davidson & Friesen 1990"),
    Interaction("social_smile", (12,), ("happiness",), absent=(6,), source="Ekman, Davidson & Friesen 1990"),
    Interaction("sad_brow", (1, 4), ("sadness", "fear"), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("fear_brow", (1, 2, 4), ("fear",), subsumes=("sad_brow",), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("sad_mouth", (15, 17), ("sadness",), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("surprise_face", (1, 2, 5, 26), ("surprise",), min_active=3, source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("fear_mouth", (20, 25), ("fear",), source="EMFACS (Matsumoto et al. 2008)"),
    Interaction("anger_face", (4, 5, 7, 23), ("anger",), min_active=3, subsumes=("anger_glare",),
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
