"""Temporal smoothing per track: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012).

A low-pass filter whose cut-off rises with the signal's speed: at rest it removes frame-to-frame
jitter strongly; when a value moves fast (an expression's onset, a head turn) the cut-off opens and
the output follows with little lag. It uses each frame's real timestamp (variable frame rates and
`--every` sampling are handled by the time step, not assumed).

Every signal has its own (min_cutoff, beta), in the signal's own units: landmarks and boxes are
filtered in units of the face's size (so the same settings serve a small and a large face), AUs on
the 0–5 scale, probabilities in [0, 1] (renormalised to sum 1 after filtering), head pose in degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ferx.video.result import TrackedFrame


@dataclass(frozen=True)
class OneEuro:
    """Settings of one One-Euro filter.

    Attributes:
        min_cutoff: cut-off frequency (Hz) at rest: lower = smoother, more lag on slow changes.
        beta: how fast the cut-off rises with speed (per unit of the signal per second): higher =
            less lag on fast changes, less smoothing while moving.
        d_cutoff: cut-off (Hz) of the speed estimate itself.
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0


@dataclass
class SmoothingConfig:
    """Which signals are smoothed, and how. `enabled=False` leaves every value as measured.

    Defaults chosen on the talking-face clip (docs/video.md): landmark jitter falls by the factor
    reported there, and a step of an AU (a sudden onset) reaches half its height within one frame
    at 24–30 fps.
    """

    enabled: bool = True
    landmarks: OneEuro | None = OneEuro(min_cutoff=1.0, beta=4.0, d_cutoff=1.0)
    boxes: OneEuro | None = OneEuro(min_cutoff=1.0, beta=4.0, d_cutoff=1.0)
    head_pose: OneEuro | None = OneEuro(min_cutoff=1.0, beta=0.05, d_cutoff=1.0)
    blendshapes: OneEuro | None = OneEuro(min_cutoff=2.0, beta=10.0, d_cutoff=1.0)
    aus: OneEuro | None = OneEuro(min_cutoff=2.0, beta=2.0, d_cutoff=1.0)
    expression: OneEuro | None = OneEuro(min_cutoff=2.0, beta=10.0, d_cutoff=1.0)
    #: forget a track's filter state after this many seconds without it (bounded memory)
    forget_s: float = 10.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class _State:
    x: np.ndarray
    dx: np.ndarray
    t: float


class OneEuroFilter:
    """One-Euro filter over an array of any shape (every element filtered independently, NaN kept).

    `scale` divides values before the speed is measured (e.g. the face's size for pixel
    coordinates), so `beta` is in units of `scale` per second.
    """

    def __init__(self, settings: OneEuro) -> None:
        self.s = settings
        self._state: _State | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        st = self._state
        if st is None or st.x.shape != x.shape or t <= st.t:
            self._state = _State(x.copy(), np.zeros_like(x), t)
            return x
        dt = t - st.t
        prev = np.where(np.isfinite(st.x), st.x, x)  # a value that was missing restarts from the new one
        dx = (x - prev) / dt / scale
        dx = np.where(np.isfinite(dx), dx, 0.0)
        dx_hat = st.dx + _alpha(self.s.d_cutoff, dt) * (dx - st.dx)
        cutoff = self.s.min_cutoff + self.s.beta * np.abs(dx_hat)
        out = prev + _alpha(cutoff, dt) * (x - prev)
        out = np.where(np.isfinite(x), out, x)
        self._state = _State(out, dx_hat, t)
        return out


@dataclass
class _TrackFilters:
    filters: dict[str, OneEuroFilter] = field(default_factory=dict)
    last_t: float = 0.0


class TrackSmoother:
    """Smooths each track's faces over time (one filter set per track ID)."""

    _FIELDS = ("landmarks", "boxes", "head_pose", "blendshapes", "aus", "expression")

    def __init__(self, config: SmoothingConfig | None = None) -> None:
        self.config = config or SmoothingConfig()
        self._tracks: dict[int, _TrackFilters] = {}

    def __call__(self, tracked: TrackedFrame) -> TrackedFrame:
        cfg = self.config
        faces = tracked.faces
        if not cfg.enabled or not len(faces):
            self._forget(tracked.timestamp)
            return tracked
        t = tracked.timestamp
        changes: dict[str, np.ndarray] = {}
        arrays = {name: getattr(faces, name) for name in self._FIELDS}
        out = {name: (None if a is None else a.copy()) for name, a in arrays.items()}
        for i, tid in enumerate(tracked.track_ids.tolist()):
            state = self._tracks.setdefault(int(tid), _TrackFilters())
            state.last_t = t
            size = float(max(faces.boxes[i, 2] - faces.boxes[i, 0], faces.boxes[i, 3] - faces.boxes[i, 1], 1.0))
            for name in self._FIELDS:
                settings: OneEuro | None = getattr(cfg, name)
                value = arrays[name]
                if settings is None or value is None:
                    continue
                flt = state.filters.get(name)
                if flt is None:
                    flt = state.filters[name] = OneEuroFilter(settings)
                scale = size if name in ("landmarks", "boxes") else 1.0
                out[name][i] = flt(value[i], t, scale)  # type: ignore[index]
        for name, value in out.items():
            if value is None or getattr(cfg, name) is None:
                continue
            if name == "expression":
                value = np.clip(value, 0.0, None)
                sums = value.sum(axis=1, keepdims=True)
                value = np.where(sums > 0, value / np.where(sums > 0, sums, 1.0), value)
            if name == "aus":
                value = np.clip(value, 0.0, 5.0)
            if name == "blendshapes":
                value = np.clip(value, 0.0, 1.0)
            changes[name] = value
        if "boxes" in changes:  # keep x2 >= x1 after filtering corners independently
            b = changes["boxes"]
            changes["boxes"] = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], axis=1)
        self._forget(t)
        return tracked.with_faces(faces.with_fields(**changes))

    def _forget(self, t: float) -> None:
        stale = [k for k, v in self._tracks.items() if t - v.last_t > self.config.forget_s]
        for k in stale:
            del self._tracks[k]


def landmark_jitter(landmarks: np.ndarray) -> float:
    """Mean frame-to-frame jitter of a (T, 478, 3) landmark series: the mean length of the second
    difference (acceleration, which steady motion does not have) in units of the mean distance
    between the outer eye corners."""
    lm = np.asarray(landmarks, np.float64)[..., :2]
    iod = float(np.nanmean(np.linalg.norm(lm[:, 33] - lm[:, 263], axis=1)))
    acc = lm[2:] - 2 * lm[1:-1] + lm[:-2]
    return float(np.nanmean(np.linalg.norm(acc, axis=2)) / iod)


__all__ = ["OneEuro", "OneEuroFilter", "SmoothingConfig", "TrackSmoother", "landmark_jitter"]
