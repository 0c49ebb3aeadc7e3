"""AU intensity scales fitted on photos coded by eye for intensity (`data/lfw-au-intensity`).

A reading's threshold (band A) decides whether an AU is there; its mid point (band C) decides how strong
the reading says it is. Without intensity codes the mid point is the median *presence* code's score, or
`calibration.MIN_SPAN` above the threshold where those crowd; both readers of the issue-23 review sheet
found two-band misses both ways (docs/aus.md, "Intensity"). Here each AU's span (mid − threshold) is the
one whose bands best match the coders' (the mean absolute band difference on the photos the coders see
the AU on and the reading calls present), and it replaces the shipped span only where that wins under
identity-wise cross-validation by `MIN_GAIN` bands, on at least `MIN_PHOTOS` photos, and where the photos
come from several rounds of coding, the span fitted without a round does no worse than the shipped one on
that round (each round with `MIN_ROUND_PHOTOS`): rounds hold different kinds of photo, and a scale that only
fits the kind it was fitted on is not a better scale (round 3 showed it for AU6). Only the mid point
moves, never the threshold; but `facs.resolve_conflicts` decides some pairs (AU5 against AU43, the jaw AUs) by
intensity, so a reading resolved by its rival's intensity can change (docs/aus.md, "Intensity").

Criteria written before any code was read: docs/runs/au-intensity-codes-2026-12-07/criterion.md,
docs/runs/au-intensity-round4-2026-12-08/criterion.md (the round-wise check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ferx.aus.calibrated import AUReading, to_intensity
from ferx.data.coded import IntensityCodes
from ferx.facs import BAND_EDGES, OCCURRENCE_THRESHOLD

#: Spans searched (score units, ≈ standard deviations of the reference faces).
SPANS = np.round(np.arange(0.25, 8.0 + 1e-9, 0.05), 2)
#: Photos an AU needs (coded present and read present) before its span may be fitted.
MIN_PHOTOS = 10
#: Cross-validated band error an AU's fitted span must save against its shipped one.
MIN_GAIN = 0.2
FOLDS = 5
#: Photos a round of coding needs before a span fitted without it must hold on it (criterion of round 4,
#: docs/runs/au-intensity-round4-2026-12-08/criterion.md).
MIN_ROUND_PHOTOS = 5


def band_numbers(intensities: np.ndarray) -> np.ndarray:
    """Band numbers (A 1 … E 5, absent 0) of 0–5 intensities, as `facs.intensity_band` bands them."""
    i = np.round(np.asarray(intensities, np.float64), 4)
    return np.where(i >= OCCURRENCE_THRESHOLD, (i[..., None] >= np.array(BAND_EDGES)).sum(-1), 0)


def span_bands(span: float, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Band numbers per photo of a reading of this threshold and span (no facial logic)."""
    i = to_intensity(np.asarray(scores, np.float64)[:, None], np.array([threshold]), np.array([threshold + span]),
                     resolve=False)[:, 0]
    return band_numbers(i)


def band_errors(span: float, scores: np.ndarray, threshold: float, target: np.ndarray) -> np.ndarray:
    """|band number − target| per photo for a reading of this threshold and span."""
    return np.abs(span_bands(span, scores, threshold) - target)


def best_span(scores: np.ndarray, threshold: float, target: np.ndarray) -> float:
    """The span of `SPANS` with the least mean band error (the smallest of ties)."""
    errors = [band_errors(s, scores, threshold, target).mean() for s in SPANS]
    return float(SPANS[int(np.argmin(errors))])


def identity_folds(identities: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(N,) fold of each photo: identities dealt round-robin in a seeded order (no identity in two folds)."""
    unique = np.unique(identities)
    order = unique[np.random.default_rng(seed).permutation(len(unique))]
    fold = {u: k % folds for k, u in enumerate(order)}
    return np.array([fold[u] for u in identities])


def gains_enough(before: float, held_out: float) -> bool:
    """Whether a fitted span's held-out band error beats the shipped span's by `MIN_GAIN` (a gain of
    exactly MIN_GAIN passes: 1.0 − 0.8 is 0.19999999999999996 in floating point)."""
    return round(before - held_out, 9) >= MIN_GAIN


@dataclass(frozen=True)
class SpanFit:
    """One AU's intensity fit: what it was fitted on and whether it replaced the shipped span."""

    code: str
    photos: int
    span_before: float
    span_fitted: float | None
    error_before: float | None
    error_cross_validated: float | None
    bias_before: float | None
    changed: bool
    #: Per round checked: (photos, band error of the shipped span, of the span fitted on the other rounds).
    rounds: dict[int, tuple[int, float, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items() if k != "rounds"}
        return {**out, "rounds": {str(r): [n, round(a, 4), round(b, 4)] for r, (n, a, b) in self.rounds.items()}}


def round_checks(errors: np.ndarray, scores: np.ndarray, threshold: float, target: np.ndarray, rounds: np.ndarray
                 ) -> dict[int, tuple[int, float, float]]:
    """Per round with at least `MIN_ROUND_PHOTOS` photos, when there are several rounds: (photos, band error
    there of the shipped span — the mean of `errors`, its per-photo errors —, band error there of the span
    fitted on the other rounds; the shipped span's where they hold fewer than 3 photos, so a round too large
    to leave out is no evidence either way)."""
    out: dict[int, tuple[int, float, float]] = {}
    kinds = np.unique(rounds)
    if len(kinds) < 2:
        return out
    for r in kinds:
        here = rounds == r
        if here.sum() < MIN_ROUND_PHOTOS:
            continue
        held = (band_errors(best_span(scores[~here], threshold, target[~here]), scores[here], threshold, target[here])
                if (~here).sum() >= 3 else errors[here])
        out[int(r)] = (int(here.sum()), float(errors[here].mean()), float(held.mean()))
    return out


def fit_span(reading: AUReading, scores: np.ndarray, target: np.ndarray, folds: np.ndarray,
             rounds: np.ndarray | None = None) -> SpanFit:
    """The span fit of one AU (see the module docstring): `scores` and `target` (mean coded band, NaN
    where not judged) of every coded photo, `folds` their identity folds, `rounds` their rounds of coding
    (None: one round)."""
    span = reading.mid - reading.threshold
    with np.errstate(invalid="ignore"):
        read = to_intensity(np.nan_to_num(scores, nan=-np.inf)[:, None], np.array([reading.threshold]),
                            np.array([reading.mid]), resolve=False)[:, 0] >= OCCURRENCE_THRESHOLD
        use = np.isfinite(scores) & np.isfinite(target) & (target >= 1) & read
    n = int(use.sum())
    if n < MIN_PHOTOS:
        return SpanFit(reading.code, n, span, None, None, None, None, False)
    s, t, f = scores[use], target[use], folds[use]
    difference = span_bands(span, s, reading.threshold) - t
    before, bias = np.abs(difference), float(difference.mean())
    held = np.empty(n)
    for k in np.unique(f):
        train, test = f != k, f == k
        fold_span = best_span(s[train], reading.threshold, t[train]) if train.sum() >= 3 else span
        held[test] = band_errors(fold_span, s[test], reading.threshold, t[test])
    fitted = best_span(s, reading.threshold, t)
    checks = round_checks(before, s, reading.threshold, t, np.zeros(n, int) if rounds is None else rounds[use])
    holds = all(round(b - a, 9) <= 0 for _, a, b in checks.values())
    changed = gains_enough(float(before.mean()), float(held.mean())) and holds
    return SpanFit(reading.code, n, span, fitted, float(before.mean()), float(held.mean()), bias, changed, checks)


def refit_spans(readings: Sequence[AUReading], scores: np.ndarray, codes: IntensityCodes
                ) -> tuple[tuple[AUReading, ...], list[SpanFit]]:
    """Readings with the mid points the intensity codes support, and each coded AU's fit.

    Args:
        readings: the readings (in `facs.AU_CODES` order).
        scores: (P, K) the codes' photos' scores under these readings (NaN rows without a face).
        codes: the intensity codes.
    """
    folds = identity_folds(codes.identities)
    out, fits = list(readings), []
    for k, reading in enumerate(readings):
        number = int(reading.code[2:])
        if number not in codes.aus:
            continue
        fit = fit_span(reading, scores[:, k], codes.bands[:, codes.aus.index(number)], folds, codes.rounds)
        fits.append(fit)
        if fit.changed and fit.span_fitted is not None:
            out[k] = replace(reading, mid=float(reading.threshold + fit.span_fitted),
                             source=f"{reading.source}; intensity codes")
    return tuple(out), fits
