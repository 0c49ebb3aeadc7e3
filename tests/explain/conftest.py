from __future__ import annotations

import numpy as np

from ferx import Faces
from ferx.facs import AU_CODES, BLENDSHAPE_INDEX, BLENDSHAPES, EXPRESSIONS, AUProfile, au_index

#: Grades by name → a validity that gives it (`facs.RELIABILITY_EDGES`).
_GRADE = {"good": 0.95, "fair": 0.85, "weak": 0.75, "unreliable": 0.6}
#: A fixed AU profile for the explainer's tests, so that they test its logic under known grades, not
#: under whatever an estimator measured last: AU12 and AU26 good; AU2, AU5, AU14 and AU25 fair; AU1,
#: AU4, AU6 and AU20 weak; AU7, AU9, AU10, AU15, AU16, AU17, AU23, AU24 and AU27 unreliable; AU18,
#: AU22 and AU43 ungraded; AU-evidence scoring: neutral level 0.19, temperature 0.2. (These were the
#: mesh estimator's grades and scoring before issue 21.)
GRADED = AUProfile("test-grades", {
    **{n: _GRADE["good"] for n in (12, 26)}, **{n: _GRADE["fair"] for n in (2, 5, 14, 25)},
    **{n: _GRADE["weak"] for n in (1, 4, 6, 20)},
    **{n: _GRADE["unreliable"] for n in (7, 9, 10, 15, 16, 17, 23, 24, 27)},
}, 0.19, 0.2)


def make_face(
    aus: dict[int, float], probs: dict[str, float] | None = None, blend: dict[str, float] | None = None,
    profile: AUProfile | None = GRADED,
) -> Faces:
    """One hand-built face: AU intensities by number, classifier probabilities by label, blendshapes,
    graded by `profile` (default `GRADED`; None: as faces without a profile, `facs.MESH_PROFILE`)."""
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
    return Faces(np.array([[0, 0, 10, 10]]), np.ones(1), np.zeros((1, 5, 2)), blendshapes=bs, aus=a, expression=p,
                 au_profile=profile)
