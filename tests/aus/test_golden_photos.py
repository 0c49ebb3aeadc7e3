"""Golden tests: AU readings of the default analyzer on real photos chosen by looking at them.

The photos were picked on 2026-11-30 from contact sheets of 30 random lfw-expressions photos per
label (anger, disgust, happiness; seed 1), for what a FACS coder sees in them, before the
estimator's output was looked at:

- frowns (AU4, brows lowered and drawn together): Tom_Ridge_0005, Mike_Samp_0001, Charles_Moose_0001,
  Bob_Huggins_0001;
- lip presses (AU24, closed lips pressed thin): Charles_Moose_0001, Saeb_Erekat_0002;
- nose wrinkles (AU9): Bob_Huggins_0001, Monica_Seles_0006 (with AU10, upper lip raised);
- Duchenne smiles (AU6 + AU12, cheeks raised, crow's feet): Prince_Naruhito_0002, Jackie_Chan_0011,
  Hillary_Clinton_0003; and a smile without cheek raising (eyes open, no crow's feet):
  Tony_Blair_0035.

What the estimator misses is written down as strict xfails, so a fix shows up as XPASS and the
test must then be promoted. docs/results.md (issue 11, golden photos) has every value, for the
mesh estimator too.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import LFW, lfw_rows

FROWNS = ("Tom_Ridge_0005.jpg", "Mike_Samp_0001.jpg", "Charles_Moose_0001.jpg", "Bob_Huggins_0001.jpg")
LIP_PRESSES = ("Charles_Moose_0001.jpg", "Saeb_Erekat_0002.jpg")
DUCHENNE = ("Prince_Naruhito_0002.jpg", "Jackie_Chan_0011.jpg", "Hillary_Clinton_0003.jpg")
SOCIAL_SMILE = "Tony_Blair_0035.jpg"
ACTIVE = 1.0  # band A
MARKED = 2.5  # band C


@pytest.fixture(scope="module")
def readings(analyzer):
    """name → (AU code → intensity, explanation) for the photo's largest face."""
    lfw_rows()  # skips without the data
    out = {}
    names = set(FROWNS + LIP_PRESSES + DUCHENNE + (SOCIAL_SMILE, "Monica_Seles_0006.jpg"))
    for name in sorted(names):
        faces = analyzer.analyze(LFW / "images" / name).faces
        assert len(faces), name
        k = int(np.argmax(faces.boxes[:, 2] - faces.boxes[:, 0]))
        out[name] = (dict(zip(faces.au_codes, faces.aus[k].tolist())), faces.explanations[k], faces.grading)
    return out


def test_the_default_analyzer_reads_aus_from_the_image(analyzer):
    assert analyzer.config.aus is not None and analyzer.config.aus.name == "image-heads"


@pytest.mark.parametrize("name", FROWNS)
def test_frowns_read_as_brow_lowering(readings, name):
    aus, expl, _ = readings[name]
    assert aus["AU4"] >= ACTIVE, aus
    assert "AU4" in expl.active_codes


@pytest.mark.parametrize("name", DUCHENNE)
def test_duchenne_smiles_show_cheek_raising_and_the_pattern(readings, name):
    aus, expl, _ = readings[name]
    assert aus["AU6"] >= MARKED and aus["AU12"] >= MARKED, aus
    assert "duchenne_smile" in expl.patterns
    assert aus["AU4"] < ACTIVE  # a smile is no frown


def test_a_smile_without_cheek_raising_is_not_called_duchenne(readings):
    aus, expl, _ = readings[SOCIAL_SMILE]
    assert aus["AU12"] >= ACTIVE and aus["AU6"] < ACTIVE, aus
    assert "duchenne_smile" not in expl.patterns
    # and the Duchenne smiles' cheek raising is far above this face's
    assert min(readings[n][0]["AU6"] for n in DUCHENNE) - aus["AU6"] >= 2.0


def test_a_nose_wrinkle_reads_as_au9(readings):
    aus, expl, _ = readings["Bob_Huggins_0001.jpg"]
    assert aus["AU9"] >= MARKED, aus
    assert "disgust_nose_lip" in expl.patterns


def test_the_nose_and_upper_lip_pattern_is_found_on_both_nose_wrinkles(readings):
    for name in ("Bob_Huggins_0001.jpg", "Monica_Seles_0006.jpg"):
        aus, expl, _ = readings[name]
        assert "disgust_nose_lip" in expl.patterns, (name, aus)


@pytest.mark.xfail(strict=True, reason="measured 2026-11-30: AU9 0.0 on Monica_Seles_0006 (AU10 1.9 is read); "
                                       "the nose head transfers poorly to lfw photos (AUC 0.47 on lfw half A)")
def test_the_second_nose_wrinkle_reads_as_au9(readings):
    aus, _, _ = readings["Monica_Seles_0006.jpg"]
    assert aus["AU9"] >= ACTIVE


@pytest.mark.xfail(strict=True, reason="measured 2026-11-30: AU24 0.0 on both; the lip heads follow the "
                                       "expression prior (AU23/AU24 logits correlate at 0.99), so a lip press "
                                       "on a face the heads read as neutral is missed")
@pytest.mark.parametrize("name", LIP_PRESSES)
def test_lip_presses_read_as_au24(readings, name):
    aus, _, _ = readings[name]
    assert aus["AU24"] >= ACTIVE


@pytest.mark.parametrize("name", LIP_PRESSES)
def test_a_missed_lip_press_is_never_called_absent(readings, name):
    """The honesty rule that covers the miss above: AU24's head is capped at "weak" (indistinct from
    AU23's), so no sentence may say the lips are not pressed."""
    aus, expl, grading = readings[name]
    assert grading.grade("AU24") == "weak"
    assert not any("AU24" in e.missing for e in expl.evidence)
    from ferx.explain.validate import reasoning_issues

    assert reasoning_issues(expl.text, expl, profile=grading) == ()
