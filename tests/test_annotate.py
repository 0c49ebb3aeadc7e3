import numpy as np
import pytest

from ferx import Faces, FrameResult
from ferx.annotate import LABEL_COLOURS, annotate
from ferx.facs import AU_CODES, EXPRESSIONS


def test_draws_box_in_label_colour_and_au_text():
    probs = np.zeros((1, 8))
    probs[0, EXPRESSIONS.index("sadness")] = 1
    aus = np.zeros((1, len(AU_CODES)))
    aus[0, AU_CODES.index("AU1")] = 4
    faces = Faces([[40, 40, 160, 160]], [0.9], np.zeros((1, 5, 2)), aus=aus, expression=probs)
    img = np.zeros((240, 240, 3), np.uint8)
    out = np.asarray(annotate(img, FrameResult("x", 240, 240, faces)))
    assert tuple(out[100, 40]) == LABEL_COLOURS["sadness"]  # left edge of the box
    assert (out[100, 100] == 0).all()  # inside untouched
    assert (out[165:185, 40:120] != 0).any()  # AU label under the box
    assert (img == 0).all()  # input not modified


def test_aus_graded_unreliable_are_not_drawn():
    from tests.explain.conftest import GRADED

    aus = np.zeros((1, len(AU_CODES)))
    aus[0, AU_CODES.index("AU15")] = 4  # AU15 cannot be measured reliably under this profile
    faces = Faces([[40, 40, 160, 160]], [0.9], np.zeros((1, 5, 2)), aus=aus, au_profile=GRADED)
    out = np.asarray(annotate(np.zeros((240, 240, 3), np.uint8), FrameResult("x", 240, 240, faces)))
    assert (out[165:185, 40:120] == 0).all()  # no AU label under the box


def test_size_mismatch_raises():
    with pytest.raises(ValueError, match="result is for"):
        annotate(np.zeros((10, 10, 3), np.uint8), FrameResult("x", 20, 20, Faces.empty()))
