import numpy as np
import pytest

from ferx import Faces
from ferx.expression.codebook import AUCodebookExpression
from ferx.facs import AU_CODES, BLENDSHAPE_INDEX, BLENDSHAPES, EXPRESSIONS, au_index
from tests.explain.conftest import GRADED


def faces_with_aus(*rows: dict[int, float], blend: dict[str, float] | None = None) -> Faces:
    n = len(rows)
    aus = np.zeros((n, len(AU_CODES)), np.float32)
    for i, row in enumerate(rows):
        for number, value in row.items():
            aus[i, au_index(number)] = value
    bs = np.zeros((n, len(BLENDSHAPES)), np.float32)
    for name, value in (blend or {}).items():
        bs[:, BLENDSHAPE_INDEX[name]] = value
    # graded by a fixed test profile (AU9, AU10 and AU15 unreliable), not by what an estimator measured last
    return Faces(np.tile([0, 0, 10, 10], (n, 1)), np.ones(n), np.zeros((n, 5, 2)), blendshapes=bs, aus=aus,
                 au_profile=GRADED)


@pytest.mark.parametrize(
    "aus, label",
    [
        ({}, "neutral"),
        ({6: 3.5, 12: 4.5, 25: 2}, "happiness"),
        ({1: 4, 2: 4, 5: 3, 26: 4, 25: 3}, "surprise"),
        ({1: 3.5, 4: 3, 15: 4, 17: 2}, "sadness"),
        ({4: 4.5, 7: 4, 23: 3, 24: 3}, "anger"),
        # AU9 and AU10, disgust's defining AUs, are graded unreliable (GRADED): the AUs
        # then say nothing about disgust rather than inventing evidence, so the face reads neutral
        ({9: 4, 10: 4, 17: 2}, "neutral"),
        ({1: 4, 2: 3, 4: 3, 5: 4, 20: 4, 26: 2}, "fear"),
        ({12: 0.6}, "neutral"),  # a trace of a smile is not enough
    ],
)
def test_prototypical_au_patterns_get_their_label(aus, label):
    faces = AUCodebookExpression().process(np.zeros((8, 8, 3), np.uint8), faces_with_aus(aus))
    assert faces.labels == [label]
    assert faces.expression.sum() == pytest.approx(1, abs=1e-5)


def test_one_sided_smile_is_contempt():
    f = faces_with_aus({12: 2.0, 14: 2.5}, blend={"mouthSmileLeft": 0.6, "mouthDimpleLeft": 0.3})
    assert AUCodebookExpression().process(np.zeros((8, 8, 3), np.uint8), f).labels == ["contempt"]


def test_opposing_aus_reduce_a_label():
    # a smile (AU12, measured well) argues against surprise
    faces = faces_with_aus({1: 4, 2: 4, 5: 3, 26: 4}, {1: 4, 2: 4, 5: 3, 26: 4, 12: 4})
    p = AUCodebookExpression().process(np.zeros((8, 8, 3), np.uint8), faces).expression
    assert p[0, EXPRESSIONS.index("surprise")] > p[1, EXPRESSIONS.index("surprise")]


def test_unreliable_aus_are_no_evidence_either_way():
    # AU15 is graded unreliable: it neither supports sadness nor opposes happiness
    smile = AUCodebookExpression().process(np.zeros((8, 8, 3), np.uint8), faces_with_aus({6: 3, 12: 4}, {6: 3, 12: 4, 15: 4}))
    np.testing.assert_allclose(smile.expression[0], smile.expression[1], atol=1e-6)


def test_missing_aus_give_no_label():
    f = faces_with_aus({}).with_fields(aus=np.full((1, len(AU_CODES)), np.nan))
    out = AUCodebookExpression().process(np.zeros((8, 8, 3), np.uint8), f)
    assert out.labels == [None]


def test_options_are_validated():
    with pytest.raises(ValueError, match="temperature"):
        AUCodebookExpression(temperature=0)
