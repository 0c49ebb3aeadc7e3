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
test must then be promoted. docs/results.md (issue 11, golden photos; issue 21 for the readings
checked against FACS codes) has every value.

Issue 21 changed the intensity scale: band A sits at the threshold chosen on FACS-coded faces and
band C at the median coded occurrence of CK+'s posed peaks, so the milder expressions of these
photos read one band lower than on the old scale; the tests ask for the bands the AU patterns use
(B) rather than C.
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
SLIGHT = 1.5  # band B: what the smile patterns and compounds need


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


def test_the_default_analyzer_reads_aus_calibrated_on_facs_codes(analyzer):
    assert analyzer.config.aus is not None and analyzer.config.aus.name == "facs"


@pytest.mark.parametrize("name", FROWNS)
def test_frowns_read_as_brow_lowering(readings, name):
    aus, expl, _ = readings[name]
    assert aus["AU4"] >= ACTIVE, aus
    assert "AU4" in expl.active_codes


@pytest.mark.parametrize("name", ["Prince_Naruhito_0002.jpg", "Jackie_Chan_0011.jpg", "Hillary_Clinton_0003.jpg"])
def test_duchenne_smiles_show_cheek_raising_and_the_pattern(readings, name):
    aus, expl, _ = readings[name]
    assert aus["AU6"] >= SLIGHT and aus["AU12"] >= SLIGHT, aus
    assert "duchenne_smile" in expl.patterns


@pytest.mark.parametrize("name", [
    pytest.param("Prince_Naruhito_0002.jpg", marks=pytest.mark.xfail(strict=True, reason=(
        "measured 2026-12-06: AU4 1.06 (a trace) on this broad smile, read from the brow's distance to the "
        "lid, which the raised cheeks narrow"))),
    "Jackie_Chan_0011.jpg", "Hillary_Clinton_0003.jpg"])
def test_a_duchenne_smile_is_no_frown(readings, name):
    aus, _, _ = readings[name]
    assert aus["AU4"] < ACTIVE, aus


def test_a_smile_without_cheek_raising_is_not_called_duchenne(readings):
    """Tony Blair's smile: AU6 clearly absent (below A), no Duchenne pattern, while every Duchenne
    smile's AU6 reads present."""
    aus, expl, _ = readings[SOCIAL_SMILE]
    assert aus["AU6"] < ACTIVE, aus
    assert "duchenne_smile" not in expl.patterns
    assert min(readings[n][0]["AU6"] for n in DUCHENNE) >= ACTIVE


@pytest.mark.xfail(strict=True, reason="measured 2026-12-06: AU12 0.60 on Tony_Blair_0035; AU12 is read from "
                                       "MediaPipe's mouthSmile (the image head reads 1.17 but did not beat the mesh "
                                       "on the coded faces), which this closed-lip smile barely moves")
def test_a_smile_without_cheek_raising_reads_au12(readings):
    aus, _, _ = readings[SOCIAL_SMILE]
    assert aus["AU12"] >= ACTIVE, aus


def test_a_nose_wrinkle_reads_as_au9(readings):
    """Bob Huggins frowns with a wrinkled nose: AU9 is observed as a sign of disgust, and the
    disgust pattern sentence appears exactly when the conclusion is disgust (a pattern speaks only
    for the label it is consistent with, issue 23)."""
    aus, expl, _ = readings["Bob_Huggins_0001.jpg"]
    assert aus["AU9"] >= SLIGHT, aus
    assert "AU9" in expl.active_codes
    assert ("disgust_nose_lip" in expl.patterns) == (expl.label == "disgust"), (expl.label, expl.patterns)


@pytest.mark.xfail(strict=True, reason="measured 2026-12-06: on Monica_Seles_0006 AU9 reads 0.4 and AU10 3.6, but "
                                       "AU10 is graded unreliable against FACS codes (AUC 0.39 on CK+'s 9 coded "
                                       "occurrences), so it is no evidence and the nose-and-lip pattern is not claimed")
def test_the_nose_and_upper_lip_pattern_is_found_on_the_second_nose_wrinkle(readings):
    aus, expl, _ = readings["Monica_Seles_0006.jpg"]
    assert "disgust_nose_lip" in expl.patterns, aus


@pytest.mark.xfail(strict=True, reason="measured 2026-12-06: AU9 0.4 on Monica_Seles_0006; the nose head and the "
                                       "nose geometry both miss it")
def test_the_second_nose_wrinkle_reads_as_au9(readings):
    aus, _, _ = readings["Monica_Seles_0006.jpg"]
    assert aus["AU9"] >= ACTIVE


@pytest.mark.parametrize("name", [
    pytest.param("Charles_Moose_0001.jpg", marks=pytest.mark.xfail(strict=True, reason=(
        "measured 2026-12-06: AU24 0.07; AU24 is read from the mouth's outer height, and this press leaves "
        "it at 2.0 cm, near the median of relaxed mouths (2.1 cm; the threshold is 1.7)"))),
    "Saeb_Erekat_0002.jpg"])
def test_lip_presses_read_as_au24(readings, name):
    aus, _, _ = readings[name]
    assert aus["AU24"] >= ACTIVE


@pytest.mark.parametrize("name", LIP_PRESSES)
def test_a_missed_lip_press_is_never_called_absent(readings, name):
    """Whatever AU24 reads, no sentence says the lips are not pressed: AU24 is no defining AU of
    anger (its absence is never "missing"), and the grade is the one measured against FACS codes."""
    aus, expl, grading = readings[name]
    from ferx.aus.calibrated import AUCalibration

    assert grading.grade("AU24") == AUCalibration.load("au-facs").profile().grade("AU24")
    assert not any("AU24" in e.missing for e in expl.evidence)
    from ferx.explain.validate import reasoning_issues

    assert reasoning_issues(expl.text, expl, profile=grading) == ()
