import numpy as np
import pytest

from ferx import facs


def test_issue_required_aus_are_in_the_table():
    required = {1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43}
    assert required <= set(facs.AU_NUMBERS)


def test_table_is_consistent():
    assert len(set(facs.AU_NUMBERS)) == len(facs.AU_NUMBERS)
    for au in facs.AU_TABLE:
        assert au.full > au.rest >= 0, au.code
        assert all(0 <= i < 478 for i in au.landmarks), au.code
        for src in au.sources:
            assert src in facs.GEOMETRY or src in facs.DERIVED or src in facs.BLENDSHAPE_INDEX, (au.code, src)


def test_codebooks_refer_to_known_aus_and_labels():
    for emotion, proto in facs.EMOTION_PROTOTYPES.items():
        assert emotion in facs.EXPRESSIONS
        assert set(proto.supports) | set(proto.opposes) <= set(facs.AU_NUMBERS)
    assert set(facs.HEATMAP_CODEBOOK) == set(facs.EXPRESSIONS)
    assert facs.HEATMAP_CODEBOOK["neutral"] == ()
    assert {n for aus in facs.HEATMAP_CODEBOOK.values() for n in aus} <= set(facs.AU_NUMBERS)


def test_intensity_mapping_and_bands():
    au12 = facs.AU_BY_NUMBER[12]
    values = np.array([0.0, au12.rest, (au12.rest + au12.full) / 2, au12.full, 1.0])
    np.testing.assert_allclose(facs.to_intensity(au12, values), [0, 0, 2.5, 5, 5])
    assert facs.intensity_band(0.4) is None
    assert facs.intensity_band(1.0) == "A"
    assert facs.intensity_band(2.6) == "C"
    assert facs.intensity_band(5.0) == "E"
    # fixed edges at 1.5, 2.5, 3.5, 4.5 (round() would send 2.5 to B and 4.5 to D, half to even)
    assert [facs.intensity_band(v) for v in (1.49, 1.5, 2.49, 2.5, 3.5, 4.49, 4.5)] == ["A", "B", "B", "C", "D", "D", "E"]
    assert facs.intensity_band(float("nan")) is None


def test_bilateral_au_takes_the_stronger_side_and_asymmetry():
    bs = np.zeros((1, len(facs.BLENDSHAPES)), np.float32)
    bs[0, facs.BLENDSHAPE_INDEX["mouthSmileLeft"]] = 0.85
    bs[0, facs.BLENDSHAPE_INDEX["mouthSmileRight"]] = 0.10
    aus = facs.au_intensities(bs, None)
    assert aus[0, facs.au_index(12)] == pytest.approx(5.0)
    assert facs.au_asymmetry(12, bs)[0] == pytest.approx(5.0)
    assert facs.au_asymmetry(1, bs)[0] == 0  # AU1 has a single source
    assert np.isnan(aus[0, facs.au_index(25)])  # lips-apart needs landmarks
    assert np.isnan(aus[0, facs.au_index(7)])  # so does eye narrowing


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
    assert not any("mouthRoll" in src for src in facs.AU_BY_NUMBER[23].sources)  # rolled-in lips are AU28


def test_reliability_grades_follow_the_measured_validity():
    grade = {au.number: au.reliability for au in facs.AU_TABLE}
    assert grade[12] == "good" and grade[26] == "good"
    assert grade[9] == "unreliable"  # MediaPipe's noseSneer is ~0 on every face
    assert grade[43] == "ungraded" and facs.AU_BY_NUMBER[43].measured
    for au in facs.AU_TABLE:
        assert au.measured == (au.reliability != "unreliable")
        assert au.absence_reliable == (au.reliability in ("good", "fair"))
    assert facs.AU_MEASURED.tolist() == [au.measured for au in facs.AU_TABLE]


def test_geometry_sources_on_a_real_face(analyzer):
    """Brow lowering and lip measures on a real photo are finite, per side where bilateral, and move
    the right way when the mesh is edited: brows pushed down read as more AU4."""
    from tests.conftest import lfw_paths

    lm = analyzer.analyze(lfw_paths("neutral", 1)[0]).faces.landmarks[:1].copy()
    base = facs.brow_lower(lm)
    assert base.shape == (1, 2) and np.isfinite(base).all()
    up, scale = facs._up(lm)
    lowered = lm.copy()
    lowered[:, [55, 285], :2] -= 0.05 * scale[:, None, None] * up[:, None, :]
    np.testing.assert_allclose(facs.brow_lower(lowered) - base, 0.05, atol=1e-4)
    assert np.isfinite(facs.lip_corner_drop(lm)).all() and facs.lip_corner_drop(lm).shape == (1, 2)
    assert facs.lip_press(lm).shape == (1,) and facs.lip_narrow(lm).shape == (1,)
