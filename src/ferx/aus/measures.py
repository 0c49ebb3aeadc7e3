"""What AU estimates are read from: named measures of a face's mesh, blendshapes and image heads.

Every AU estimate in ferx is a calibrated function of a few of these measures (`ferx.aus.calibrated`).
A measure is named by its source and, optionally, a sign:

- ``bs:NAME`` — a MediaPipe blendshape coefficient (0–1). For a left/right pair (``bs:mouthSmile``
  for mouthSmileLeft/Right) the stronger side, as a FACS coder scores the more intense side.
- ``g:NAME`` — a distance in MediaPipe's *canonical face frame*: the landmarks are moved onto the
  canonical face (the bundle's ``canonical_mesh``, in cm) by the weighted similarity transform
  (rotation, uniform scale, shift) of the bundle's Procrustes landmarks, so head rotation, face size
  and image resolution are taken out, and heights are measured along the face's own vertical axis.
  There is no per-person baseline: a still image has none, so face shape stays in the measure.
- ``h:AUn`` — the log-odds of an image head (`ferx.aus.image_heads`), which reads the pixels of the
  AU's region in the aligned crop.
- A leading ``-`` negates a measure (``-g:mouth_width``: the narrower the mouth, the higher).

Which measures may serve which AU is anatomy, not data: `CANDIDATES` lists, per AU, the measures
of the movement itself (the brows' height for AU1, the lip-red height for AU24, …). The coded faces
only choose among them (`ferx.train.aus.calibration`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ferx.facs import BLENDSHAPE_INDEX
from ferx.canonical import canonical_face

# -- the canonical face frame ------------------------------------------------------------------------


def _procrustes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per face (all finite): scale (M,), rotation (M, 3, 3), source centroid (M, 1, 3) and the
    canonical centroid (3,) of the weighted similarity fit onto the canonical face."""
    verts, ids, weights = canonical_face()
    w = weights / weights.sum()
    dst = verts[ids]
    dst_mean = (w[:, None] * dst).sum(0)
    src = landmarks[:, ids] * _FLIP
    mu = (w[None, :, None] * src).sum(1, keepdims=True)
    src_c = src - mu
    h = np.einsum("p,mpi,pj->mij", w, src_c, dst - dst_mean)  # (M, 3, 3) cross-covariance
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("mij,mjk->mik", u, vt)))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    rot = np.einsum("mij,mj,mjk->mik", u, fix, vt)  # maps centred source rows onto the canonical frame
    scale = (s * fix).sum(1) / np.einsum("p,mpi->m", w, src_c**2)
    return scale, rot, mu, dst_mean


#: Image frame (x right, y down, z away from the viewer) → canonical frame (y up, z towards the viewer).
_FLIP = np.array([1.0, -1.0, -1.0])


def to_canonical(landmarks: np.ndarray, points: Sequence[int] | None = None) -> np.ndarray:
    """(N, 478, 3) landmarks in image pixels → the same points (or only `points`) in MediaPipe's
    canonical face frame (cm; x towards the subject's left, y up, z out of the face). Rows with a
    NaN stay NaN.

    The transform is the weighted similarity Procrustes fit (Umeyama) of the bundle's Procrustes
    landmarks onto the canonical mesh, with MediaPipe's own weights (as `landmarks.geometry.head_pose`).
    """
    lm = np.asarray(landmarks, np.float64)
    pts = lm if points is None else lm[:, list(points)]
    out = np.full(pts.shape, np.nan)
    ok = np.isfinite(lm).all(axis=(1, 2))
    if ok.any():
        scale, rot, mu, centre = _procrustes(lm[ok])
        out[ok] = scale[:, None, None] * np.einsum("mpi,mij->mpj", pts[ok] * _FLIP - mu, rot) + centre
    return out.astype(np.float32)


# -- geometry in the canonical frame -----------------------------------------------------------------
# Mesh indices, subject's right side first, then its left. Brows: 107/336 inner upper edge, 105/334
# outer upper edge, 66/296 middle, 55/285 inner lower edge. Eyes: corners 33/133 and 263/362, lids
# 159/145 and 386/374. Cheek under the lower lid: 118/347. Nose: tip 1, subnasale 2, bridge 168,
# alar wings 129/358. Lips: outer midpoints 0 (upper) and 17 (lower), inner midpoints 13/14,
# corners 61/291, inner-lip sides 82/87 and 312/317. Chin: 152.
_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)


@dataclass(frozen=True)
class Geometry:
    """One canonical-frame distance: the mean (or, with `total`, the sum) over point pairs (a, b) of
    how far a lies above b ("height", cm along the face's vertical) or of their distance in the
    face's plane ("distance")."""

    kind: str
    pairs: tuple[tuple[int, int], ...]
    total: bool = False


def _above_eyes(right: int, left: int) -> tuple[tuple[int, int], ...]:
    """Pairs whose mean height is that of `right`/`left` above their eye's corner midpoint."""
    return ((right, 33), (right, 133), (left, 263), (left, 362))


#: Canonical-frame geometry, each the measure of one movement (the AU it serves in the comment).
GEOMETRY: dict[str, Geometry] = {
    "inner_brow_height": Geometry("height", ((107, 133), (336, 362))),  # AU1 raises, AU4 lowers
    "outer_brow_height": Geometry("height", ((105, 33), (334, 263))),  # AU2 raises
    "mid_brow_height": Geometry("height", _above_eyes(66, 296)),
    "brow_lid_gap": Geometry("height", ((105, 159), (334, 386))),  # AU4 lowers the brow onto the lid
    "inner_brow_gap": Geometry("distance", ((55, 285),)),  # AU4 draws the brows together
    "eye_opening": Geometry("distance", ((159, 145), (386, 374))),  # AU5 widens, AU7/43 narrow
    "upper_lid_height": Geometry("height", _above_eyes(159, 386)),  # AU5 raises the upper lid
    "lower_lid_height": Geometry("height", _above_eyes(145, 374)),  # AU6/AU7 push the lower lid up
    "cheek_lid_gap": Geometry("height", ((145, 118), (374, 347))),  # AU6 raises the cheek to the lid
    "nose_wing_height": Geometry("height", ((129, 1), (358, 1))),  # AU9 lifts the alar wings
    "nose_length": Geometry("height", ((168, 2),)),  # AU9 shortens the nose
    "upper_lip_nose_gap": Geometry("height", ((2, 0),)),  # AU10 lifts the upper lip to the nose
    # corners below the mouth's middle (the midpoint of 0 and 17): AU15 pulls them down, AU12 up
    "lip_corner_drop": Geometry("height", ((0, 61), (17, 61), (0, 291), (17, 291))),
    "mouth_width": Geometry("distance", ((61, 291),)),  # AU12/AU20 widen, AU23 narrows
    "lips_apart": Geometry("distance", ((13, 14),)),  # AU25 (and 26/27)
    "lips_apart_sides": Geometry("distance", ((82, 87), (312, 317))),
    "lip_red_height": Geometry("distance", ((0, 13), (14, 17)), total=True),  # AU23/AU24 thin the red
    "mouth_height": Geometry("distance", ((0, 17),)),  # red height plus the gap
    "lower_lip_chin": Geometry("height", ((14, 152),)),  # AU17 pushes the lower lip up from the chin
    "jaw_drop": Geometry("height", ((1, 152),)),  # AU26/AU27 lower the chin
}


def _mouth_area(c: np.ndarray) -> np.ndarray:
    x, y = c[:, _OUTER_LIP, 0], c[:, _OUTER_LIP, 1]
    return 0.5 * np.abs((x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1))


def _mouth_aspect(c: np.ndarray) -> np.ndarray:
    """Mouth height over width: AU14 tightens the corners, flattening the mouth."""
    return np.linalg.norm(c[:, 0, :2] - c[:, 17, :2], axis=1) / np.maximum(np.linalg.norm(c[:, 61, :2] - c[:, 291, :2], axis=1), 1e-6)


#: Geometry that is not a mean of heights or distances: name → (N, 478, 3) canonical points → (N,).
SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"mouth_area": _mouth_area, "mouth_aspect": _mouth_aspect}


@lru_cache(maxsize=64)
def _geometry_plan(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For geometry `names` (no shapes): the points to move into the canonical frame, and per kind the
    pair indices into them and the (P, M) matrix that averages (or sums) pairs into measures."""
    points = sorted({i for n in names for pair in GEOMETRY[n].pairs for i in pair})
    at = {p: j for j, p in enumerate(points)}
    rows: dict[str, list[tuple[int, int, int, float]]] = {"height": [], "distance": []}
    for m, n in enumerate(names):
        g = GEOMETRY[n]
        weight = 1.0 if g.total else 1.0 / len(g.pairs)
        rows[g.kind] += [(at[a], at[b], m, weight) for a, b in g.pairs]
    out = [np.array(points)]
    for kind in ("height", "distance"):
        r = rows[kind]
        pairs = np.array([(a, b) for a, b, _, _ in r], np.int64).reshape(-1, 2)
        mix = np.zeros((len(r), len(names)))
        for k, (_, _, m, weight) in enumerate(r):
            mix[k, m] = weight
        out += [pairs, mix]
    return tuple(out)  # type: ignore[return-value]


def geometry_values(names: Sequence[str], landmarks: np.ndarray) -> np.ndarray:
    """(N, len(names)) canonical-frame geometry (names of `GEOMETRY` or `SHAPES`) for image landmarks."""
    plain = tuple(n for n in names if n in GEOMETRY)
    out = np.empty((len(landmarks), len(names)))
    if plain:
        points, hp, hmix, dp, dmix = _geometry_plan(plain)
        c = to_canonical(landmarks, points).astype(np.float64)
        vals = np.zeros((len(landmarks), len(plain)))
        if len(hp):
            vals += (c[:, hp[:, 0], 1] - c[:, hp[:, 1], 1]) @ hmix
        if len(dp):
            vals += np.linalg.norm(c[:, dp[:, 0], :2] - c[:, dp[:, 1], :2], axis=2) @ dmix
        for j, n in enumerate(plain):
            out[:, names.index(n)] = vals[:, j]
    shaped = [n for n in names if n in SHAPES]
    if shaped:
        c = to_canonical(landmarks).astype(np.float64)
        for n in shaped:
            out[:, names.index(n)] = SHAPES[n](c)
    return out


# -- measures --------------------------------------------------------------------------------------


def _blendshape_columns(name: str) -> list[int]:
    if name in BLENDSHAPE_INDEX:
        return [BLENDSHAPE_INDEX[name]]
    pair = [BLENDSHAPE_INDEX.get(name + side) for side in ("Left", "Right")]
    if None in pair:
        raise ValueError(f"measure bs:{name}: no blendshape {name!r} (nor a {name}Left/Right pair)")
    return pair  # type: ignore[return-value]


def parse(measure: str) -> tuple[float, str, str]:
    """'-g:mouth_width' → (-1.0, 'g', 'mouth_width'); raises ValueError for an unknown measure."""
    sign, body = (-1.0, measure[1:]) if measure.startswith("-") else (1.0, measure)
    kind, _, name = body.partition(":")
    if kind == "bs":
        _blendshape_columns(name)
    elif kind == "g":
        if name not in GEOMETRY and name not in SHAPES:
            raise ValueError(f"measure {measure!r}: no geometry {name!r}; known: {', '.join([*GEOMETRY, *SHAPES])}")
    elif kind == "h":
        if not (name.startswith("AU") and name[2:].isdigit()):
            raise ValueError(f"measure {measure!r}: an image head is named by its AU code (h:AU4)")
    else:
        raise ValueError(f"measure {measure!r}: the source must be bs:, g: or h:")
    return sign, kind, name


def uses_heads(measures: Sequence[str]) -> bool:
    return any(parse(m)[1] == "h" for m in measures)


def head_logits(probs: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probs, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p) - np.log1p(-p)


def measure_matrix(measures: Sequence[str], landmarks: np.ndarray, blendshapes: np.ndarray,
                   heads: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(N, M) values of `measures` for N faces.

    Args:
        measures: measure names (see the module docstring).
        landmarks: (N, 478, 3) in image pixels.
        blendshapes: (N, 52).
        heads: AU code → (N,) image-head probabilities, for ``h:`` measures.
    """
    parsed = [parse(m) for m in measures]
    out = np.empty((len(blendshapes), len(measures)), np.float64)
    geometry = list(dict.fromkeys(name for _, kind, name in parsed if kind == "g"))
    if geometry:
        with np.errstate(invalid="ignore"):
            g = geometry_values(geometry, landmarks)
    for j, (sign, kind, name) in enumerate(parsed):
        if kind == "bs":
            v = blendshapes[:, _blendshape_columns(name)].max(axis=1)
        elif kind == "g":
            v = g[:, geometry.index(name)]
        else:
            if heads is None or name not in heads:
                raise ValueError(f"measure h:{name} needs the image head for {name}")
            v = head_logits(heads[name])
        out[:, j] = sign * v
    return out.astype(np.float32)


#: The measures that may serve each AU: those of the movement itself (FACS appearance changes,
#: Ekman, Friesen & Hager 2002), from the blendshapes, the canonical geometry and the image head.
#: The coded faces choose among these; nothing outside an AU's list can be chosen for it, so an AU
#: is never read from a movement that merely co-occurs with it in posed data (AU4 from a closed
#: mouth, AU7 from lowered brows).
CANDIDATES: dict[int, tuple[str, ...]] = {
    1: ("bs:browInnerUp", "g:inner_brow_height", "h:AU1"),
    2: ("bs:browOuterUp", "g:outer_brow_height", "g:mid_brow_height", "h:AU2"),
    4: ("bs:browDown", "-g:inner_brow_height", "-g:mid_brow_height", "-g:brow_lid_gap", "-g:inner_brow_gap", "h:AU4"),
    5: ("bs:eyeWide", "g:eye_opening", "g:upper_lid_height", "h:AU5"),
    6: ("bs:cheekSquint", "-g:cheek_lid_gap", "g:lower_lid_height", "bs:eyeSquint", "h:AU6"),
    7: ("bs:eyeSquint", "-g:eye_opening", "g:lower_lid_height", "h:AU7"),
    9: ("bs:noseSneer", "g:nose_wing_height", "-g:nose_length", "h:AU9"),
    10: ("bs:mouthUpperUp", "-g:upper_lip_nose_gap", "h:AU10"),
    12: ("bs:mouthSmile", "-g:lip_corner_drop", "g:mouth_width", "h:AU12"),
    14: ("bs:mouthDimple", "bs:mouthPress", "-g:mouth_aspect", "h:AU14"),
    15: ("bs:mouthFrown", "g:lip_corner_drop", "h:AU15"),
    16: ("bs:mouthLowerDown", "h:AU16"),
    17: ("bs:mouthShrugLower", "g:lower_lip_chin", "h:AU17"),
    18: ("bs:mouthPucker",),
    20: ("bs:mouthStretch", "g:mouth_width", "h:AU20"),
    22: ("bs:mouthFunnel",),
    # not mouthRoll: lips rolled inward are AU28 (lip suck), which looks alike and is not these
    23: ("-g:lip_red_height", "-g:mouth_width", "-g:mouth_area", "bs:mouthPress", "h:AU23"),
    24: ("-g:lip_red_height", "-g:mouth_height", "-g:lips_apart", "bs:mouthPress", "h:AU24"),
    25: ("g:lips_apart", "g:lips_apart_sides", "bs:jawOpen", "h:AU25"),
    26: ("bs:jawOpen", "g:jaw_drop", "g:lips_apart", "h:AU26"),
    27: ("bs:jawOpen", "g:jaw_drop", "g:lips_apart", "h:AU27"),
    43: ("bs:eyeBlink", "-g:eye_opening"),
}
