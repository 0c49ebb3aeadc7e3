"""ByteTrack's Kalman filter on face boxes: constant velocity on (centre x, centre y, aspect ratio,
height), noise scaled by the box height (Zhang et al., 2022)."""

from __future__ import annotations

import numpy as np


class KalmanBoxFilter:
    """Constant-velocity Kalman filter on (cx, cy, w/h, h), noise scaled by the box height."""

    _POS, _VEL = 1.0 / 20, 1.0 / 160

    def __init__(self, box: np.ndarray) -> None:
        z = _xyah(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        h = z[3]
        std = [2 * self._POS * h, 2 * self._POS * h, 1e-2, 2 * self._POS * h,
               10 * self._VEL * h, 10 * self._VEL * h, 1e-5, 10 * self._VEL * h]
        self.cov = np.diag(np.square(std))
        self._F = np.eye(8)
        self._F[:4, 4:] = np.eye(4)
        self._H = np.eye(4, 8)

    def predict(self) -> None:
        h = self.mean[3]
        q = np.square([self._POS * h, self._POS * h, 1e-2, self._POS * h,
                       self._VEL * h, self._VEL * h, 1e-5, self._VEL * h])
        self.mean = self._F @ self.mean
        self.cov = self._F @ self.cov @ self._F.T + np.diag(q)

    def update(self, box: np.ndarray) -> None:
        h = self.mean[3]
        r = np.diag(np.square([self._POS * h, self._POS * h, 1e-1, self._POS * h]))
        s = self._H @ self.cov @ self._H.T + r
        k = np.linalg.solve(s, (self.cov @ self._H.T).T).T
        self.mean = self.mean + k @ (_xyah(box) - self._H @ self.mean)
        self.cov = self.cov - k @ s @ k.T

    def stop(self) -> None:
        """Forget the velocity (a track that was lost stays where it was last seen)."""
        self.mean[4:] = 0.0

    @property
    def box(self) -> np.ndarray:
        cx, cy, a, h = self.mean[:4]
        h = max(h, 1.0)
        w = max(a, 1e-3) * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def _xyah(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    h = max(y2 - y1, 1.0)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h])


__all__ = ["KalmanBoxFilter"]
