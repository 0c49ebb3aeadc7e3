from __future__ import annotations

import numpy as np

from ferx import Faces
from ferx.facs import AU_CODES, BLENDSHAPE_INDEX, BLENDSHAPES, EXPRESSIONS, au_index


def make_face(
    aus: dict[int, float], probs: dict[str, float] | None = None, blend: dict[str, float] | None = None
) -> Faces:
    """One hand-built face: AU intensities by number, classifier probabilities by label, blendshapes."""
    a = np.zeros((1, len(AU_CODES)), np.float32)
    for n, v in aus.items():
        a[0, au_index(n)] = v
    bs = np.zeros((1, len(BLENDSHAPES)), np.float32)
    for k, v in (blend or {}).items():
        bs[0, BLENDSHAPE_INDEX[k]] = v
    p = None
    if probs is not None:
        p = np.zeros((1, len(EXPRESSIONS)), np.float32)
        for k, v in probs.items():
            p[0, EXPRESSIONS.index(k)] = v
    return Faces(np.array([[0, 0, 10, 10]]), np.ones(1), np.zeros((1, 5, 2)), blendshapes=bs, aus=a, expression=p)
