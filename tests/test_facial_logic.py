"""Facial logic: contradicting readings are resolved, whichever way the surer reading points."""

from __future__ import annotations

import numpy as np

from ferx.facs import RESOLVED as _RESOLVED
from ferx.facs import conflicts as violations
from ferx.facs import resolve_conflicts as resolve

RESOLVED = round(_RESOLVED, 5)
from ferx.facs import AU_CODES


def _face(**aus: float) -> np.ndarray:
    row = np.full((1, len(AU_CODES)), 0.2, np.float32)
    for code, v in aus.items():
        row[0, AU_CODES.index(code)] = v
    return row


def _get(aus: np.ndarray, code: str) -> float:
    return round(float(aus[0, AU_CODES.index(code)]), 5)


def test_pressed_lips_and_parted_lips_keep_the_surer_reading():
    open_mouth = resolve(_face(AU24=1.5, AU25=4.0))
    assert _get(open_mouth, "AU24") == RESOLVED and _get(open_mouth, "AU25") == 4.0
    pressed = resolve(_face(AU24=3.5, AU25=1.2))
    assert _get(pressed, "AU24") == 3.5 and _get(pressed, "AU25") == RESOLVED
    # a wide-open jaw counts for the parted lips it implies, and goes with them when the press wins
    jaw = resolve(_face(AU24=2.0, AU25=1.1, AU27=4.0))
    assert _get(jaw, "AU24") == RESOLVED and _get(jaw, "AU27") == 4.0 and _get(jaw, "AU25") == 1.1


def test_an_open_jaw_needs_parted_lips():
    barely = resolve(_face(AU26=1.1, AU25=0.3))  # the lips say closed more surely than the jaw says open
    assert _get(barely, "AU26") == RESOLVED and _get(barely, "AU25") == 0.3
    wide = resolve(_face(AU27=4.5, AU25=0.8))  # a mouth stretched wide: the lips must be apart
    assert _get(wide, "AU27") == 4.5 and _get(wide, "AU25") == 1.0


def test_the_jaw_is_scored_once_and_closed_eyes_have_no_raised_lid():
    jaw = resolve(_face(AU26=3.0, AU27=2.0, AU25=3.0))
    assert _get(jaw, "AU27") == 2.0 and _get(jaw, "AU26") == RESOLVED
    eyes = resolve(_face(AU43=3.0, AU5=1.5))
    assert _get(eyes, "AU43") == 3.0 and _get(eyes, "AU5") == RESOLVED


def test_no_violation_survives_on_random_readings():
    rng = np.random.default_rng(0)
    aus = rng.uniform(0, 5, (2000, len(AU_CODES))).astype(np.float32)
    assert violations(aus)  # random readings break the rules …
    out = resolve(aus)
    assert not violations(out)  # … and none survives
    untouched = [j for j, c in enumerate(AU_CODES) if c not in ("AU5", "AU24", "AU25", "AU26", "AU27", "AU43")]
    np.testing.assert_array_equal(out[:, untouched], aus[:, untouched])
    nan = resolve(np.full((1, len(AU_CODES)), np.nan, np.float32))
    assert np.isnan(nan).all()
