import numpy as np
import pytest

from ferx import facs


def test_issue_required_aus_are_in_the_table():
    required = {1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43}
    assert required <= set(facs.AU_NUMBERS)


def test_table_is_consistent():
    assert len(set(facs.AU_NUMBERS)) == len(facs.AU_NUMBERS)
    for au in facs.AU_TABLE:
        assert all(0 <= i < 478 for i in au.landmarks), au.code


def test_codebooks_refer_to_known_aus_and_labels():
    for emotion, proto in facs.EMOTION_PROTOTYPES.items():
        assert emotion in facs.EXPRESSIONS
        assert set(proto.supports) | set(proto.opposes) <= set(facs.AU_NUMBERS)
    assert set(facs.HEATMAP_CODEBOOK) == set(facs.EXPRESSIONS)
    assert facs.HEATMAP_CODEBOOK["neutral"] == ()
    assert {n for aus in facs.HEATMAP_CODEBOOK.values() for n in aus} <= set(facs.AU_NUMBERS)


def test_intensity_bands():
    assert facs.intensity_band(0.4) is None
    assert facs.intensity_band(1.0) == "A"
    assert facs.intensity_band(2.6) == "C"
    assert facs.intensity_band(5.0) == "E"
    # fixed edges at 1.5, 2.5, 3.5, 4.5 (round() would send 2.5 to B and 4.5 to D, half to even)
    assert [facs.intensity_band(v) for v in (1.49, 1.5, 2.49, 2.5, 3.5, 4.49, 4.5)] == ["A", "B", "B", "C", "D", "D", "E"]
    assert facs.intensity_band(float("nan")) is None


def test_one_sidedness_reads_each_side_of_the_smile():
    bs = np.zeros((1, len(facs.BLENDSHAPES)), np.float32)
    bs[0, facs.BLENDSHAPE_INDEX["mouthSmileLeft"]] = 0.85  # `full` of the left side: 5
    bs[0, facs.BLENDSHAPE_INDEX["mouthSmileRight"]] = 0.10  # `rest`: 0
    assert facs.au_asymmetry(12, bs)[0] == pytest.approx(5.0)
    assert facs.au_asymmetry(1, bs)[0] == 0  # not a one-sided AU
    aus = np.zeros((1, len(facs.AU_CODES)), np.float32)
    aus[0, facs.au_index(12)] = 2.0  # the estimator read a weaker smile than the stronger side
    assert facs.one_sidedness(aus, bs)[0, 0] == pytest.approx(2.0)


def test_emotions_for_au():
    assert facs.emotions_for_au(12)[0] == "happiness"
    assert "surprise" in facs.emotions_for_au(26)
    with pytest.raises(KeyError, match="AU99"):
        facs.au_index(99)


def test_interactions_and_compounds_refer_to_known_aus_and_emotions():
    from ferx.facs import AU_NUMBERS, COMPOUND_EXPRESSIONS, EXPRESSIONS, INTERACTIONS, INTERACTIONS_BY_KEY, core_aus

    for inter in INTERACTIONS:
        assert set(inter.aus) | set(inter.absent) <= set(AU_NUMBERS), inter.key
        assert set(inter.emotions) <= set(EXPRESSIONS) and 1 <= inter.min_active <= len(inter.aus)
        assert inter.source
    assert INTERACTIONS_BY_KEY["duchenne_smile"].aus == (6, 12)
    assert INTERACTIONS_BY_KEY["social_smile"].absent == (6,)
    assert INTERACTIONS_BY_KEY["unilateral_smile"].unilateral
    assert len(COMPOUND_EXPRESSIONS) == 15  # Du et al. (2014): 21 categories = 6 basic + 15 compound
    for c in COMPOUND_EXPRESSIONS:
        assert set(c.aus) <= set(AU_NUMBERS) and set(c.components) <= set(EXPRESSIONS), c.name
    assert core_aus("happiness") == (12,) and core_aus("neutral") == ()


def test_knowledge_table_fixes_of_issue_11():
    protos = facs.EMOTION_PROTOTYPES
    assert 16 in protos["disgust"].supports and {9, 10} <= set(facs.core_aus("disgust"))
    assert 17 in protos["anger"].supports
    assert 25 not in protos["happiness"].supports
    assert facs.AU_BY_NUMBER[22].name == "Lip Funneler" and facs.AU_BY_NUMBER[27].name == "Mouth Stretch"


def test_reliability_grades_follow_the_measured_validity():
    assert facs.grade_of(0.95) == "good" and facs.grade_of(0.85) == "fair" and facs.grade_of(0.75) == "weak"
    assert facs.grade_of(0.65) == "unreliable" and facs.grade_of(None) == "ungraded"
    assert facs.grade_of(0.95, "weak") == "weak" and facs.grade_of(None, "unreliable") == "unreliable"
    for au in facs.AU_TABLE:
        assert au.measured == (au.reliability != "unreliable")
        assert au.presence_reliable == (au.reliability in ("good", "fair"))
        assert au.absence_reliable == au.presence_reliable  # the table's units carry no photo check
    assert facs.AU_MEASURED.tolist() == [au.measured for au in facs.AU_TABLE]


def test_the_fallback_profile_is_the_mesh_estimators():
    """Faces without a profile are graded as the "blendshapes" estimator measured itself against FACS
    codes: the numbers in facs.py are the ones in its shipped calibration."""
    from ferx.aus.calibrated import AUCalibration

    shipped = AUCalibration.load("au-facs-mesh").profile()
    assert dict(facs.MESH_PROFILE.validity) == pytest.approx(dict(shipped.validity), abs=1e-4)
    assert dict(facs.MESH_PROFILE.caps) == dict(shipped.caps)
    assert (facs.MESH_PROFILE.neutral_evidence, facs.MESH_PROFILE.temperature) == (shipped.neutral_evidence, shipped.temperature)
    assert facs.MESH_PROFILE.name == shipped.name


def test_absence_checks_decide_where_absence_may_be_said_and_survive_json():
    """An AU graded good whose clear occurrences on coded photos are often read as confidently absent
    may carry patterns but is never called absent; a check on too few photos leaves the grade to decide."""
    profile = facs.AUProfile("p", {12: 0.98, 15: 0.85, 9: 0.95}, absence_checks={12: (5, 27), 15: (1, 11), 9: (2, 4)})
    assert profile.unit(12).presence_reliable and not profile.unit(12).absence_reliable
    assert profile.unit(15).absence_reliable  # 9 % missed
    assert profile.unit(9).absence_reliable  # 4 clear codes: too few to overrule the grade
    again = facs.AUProfile.from_dict(profile.to_dict())
    assert dict(again.absence_checks) == {12: (5, 27), 15: (1, 11), 9: (2, 4)} and not again.unit(12).absence_reliable
    with pytest.raises(ValueError, match="misses <= clear"):
        facs.AUProfile("bad", absence_checks={12: (3, 2)})
