"""What the image-reading AU heads share between training and inference (numpy only).

- `HEAD_AUS`: the AUs that get an image head — every AU some expression prototype uses (an AU in no
  prototype has no expression label to learn from).
- `au_given_expression`: the FACS prior P(AU | expression) the weak supervision uses (Zhang, Dong,
  Hu & Ji, CVPR 2018, "Classifier learning with prior probabilities for facial action unit
  recognition"), read off `facs.EMOTION_PROTOTYPES`: an AU with prototype weight w has
  P = BASE_RATE + (PRIOR_TOP − BASE_RATE) · w (defining AUs, w ≥ 0.8: 0.73–0.90; supporting ones
  0.2–0.6: 0.22–0.56), every other AU the base rate; neutral has every AU at the base rate.
- `au_targets`: q_AU = Σₑ P(e | votes) · P(AU | e) from a face's vote distribution.
- `region_masks`: per AU a truncated Gaussian around its mesh landmarks (`facs.AU_TABLE[..].landmarks`;
  the mouth-box AUs 23–25 on the lips' middle and corners) in the aligned crop's feature grid.
  A head pools the feature map inside its mask only (reach CUT·σ = 0.3 eye distances), and the
  trunk's receptive field is a 13-px square of the 48-px crop (eye distance 25 px), so an AU's output
  depends only on pixels within ≈ 0.72 eye distances (18 px) of its landmarks
  (tests/aus/test_image_heads.py checks it with gradients).
"""

from __future__ import annotations

import numpy as np

from ferx.facecrop import SIZE, crop_transform
from ferx.facs import AU_BY_NUMBER, EMOTION_PROTOTYPES, EXPRESSIONS

#: AUs with an image head, in `facs.AU_TABLE` order.
HEAD_AUS: tuple[int, ...] = tuple(n for n in sorted(AU_BY_NUMBER)
                                  if any(n in p.supports for p in EMOTION_PROTOTYPES.values()))
HEAD_CODES: tuple[str, ...] = tuple(f"AU{n}" for n in HEAD_AUS)
BASE_RATE = 0.05
PRIOR_TOP = 0.90
#: Feature grid of the heads (the trunk downsamples the 48-px crop by 4).
GRID = 12
#: Gaussian σ as a fraction of the outer-eye-corner distance, and the cut-off in σ.
SIGMA = 0.15
CUT = 2.0
_MOUTH_POINTS = (13, 14, 61, 291)
_EYE_OUTER = (33, 263)


def au_given_expression() -> np.ndarray:
    """(8, K) P(AU | expression), rows in `facs.EXPRESSIONS` order, columns `HEAD_AUS`."""
    p = np.full((len(EXPRESSIONS), len(HEAD_AUS)), BASE_RATE, np.float32)
    for i, e in enumerate(EXPRESSIONS):
        proto = EMOTION_PROTOTYPES.get(e)
        for j, n in enumerate(HEAD_AUS):
            if proto is not None and n in proto.supports:
                p[i, j] = BASE_RATE + (PRIOR_TOP - BASE_RATE) * proto.supports[n]
    return p


def au_targets(votes: np.ndarray) -> np.ndarray:
    """(N, K) q = Σₑ P(e | votes) P(AU | e); `votes` (N, 8) rows are normalised here."""
    v = np.asarray(votes, np.float32)
    v = v / np.maximum(v.sum(axis=1, keepdims=True), 1e-9)
    return v @ au_given_expression()


def region_points(number: int) -> tuple[int, ...]:
    """Mesh indices a head's region is centred on."""
    if number in (23, 24, 25):
        return _MOUTH_POINTS
    return AU_BY_NUMBER[number].landmarks


def crop_points(landmarks: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(478, 2) landmarks of one face moved into its aligned crop's pixels (`facecrop.aligned_crop`)."""
    scale, angle, tx, ty = crop_transform(landmarks, size)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    p = np.asarray(landmarks, np.float64)[:, :2]
    return np.stack([c * p[:, 0] - s * p[:, 1] + tx, s * p[:, 0] + c * p[:, 1] + ty], 1).astype(np.float32)


_INDEX = [region_points(n) for n in HEAD_AUS]
_FLAT = np.array([i for pts in _INDEX for i in pts])
_OWNER = np.array([k for k, pts in enumerate(_INDEX) for _ in pts])


def region_masks(points: np.ndarray, size: int = SIZE, grid: int = GRID) -> np.ndarray:
    """(N, K, grid, grid) float32 masks in [0, 1] from crop-frame landmarks (N, 478, 2).

    Per AU the max over its points of exp(−d² / 2σ²), zero beyond CUT·σ, σ = SIGMA × eye distance."""
    pts = np.asarray(points, np.float32)
    if pts.ndim == 2:
        pts = pts[None]
    n = len(pts)
    eye = np.linalg.norm(pts[:, _EYE_OUTER[1]] - pts[:, _EYE_OUTER[0]], axis=1)  # (N,)
    sigma = (SIGMA * eye)[:, None, None, None]
    centres = (np.arange(grid, dtype=np.float32) + 0.5) * (size / grid)
    p = pts[:, _FLAT]  # (N, P, 2)
    dx = centres[None, None, None, :] - p[:, :, 0, None, None]
    dy = centres[None, None, :, None] - p[:, :, 1, None, None]
    d2 = dx * dx + dy * dy  # (N, P, grid, grid)
    g = np.exp(-d2 / (2 * sigma**2))
    g[d2 > (CUT * sigma) ** 2] = 0.0
    out = np.zeros((n, len(HEAD_AUS), grid, grid), np.float32)
    for k in range(len(HEAD_AUS)):
        out[:, k] = g[:, _OWNER == k].max(axis=1)
    return out


def intensity(probs: np.ndarray, rest: np.ndarray, full: np.ndarray) -> np.ndarray:
    """0–5 intensities from head probabilities with per-AU calibration (as `facs.to_intensity`)."""
    return 5.0 * np.clip((probs - rest) / np.maximum(full - rest, 1e-6), 0.0, 1.0)
