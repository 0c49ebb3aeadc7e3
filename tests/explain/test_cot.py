import json

import numpy as np
import pytest

from ferx import Analyzer, Explanation, FrameResult
from ferx.expression.codebook import au_evidence
from ferx.explain.cot import ONE_SIDED_AUS, ChainOfThoughtExplainer, au_evidence_fast, explain_faces
from ferx.explain.templates import languages, load_templates
from ferx.explain.validate import validate
from ferx.facs import AU_CODES, BLENDSHAPES, au_asymmetry
from tests.conftest import lfw_paths
from tests.explain.conftest import make_face


def explain(*args, **kwargs) -> Explanation:
    (e,) = explain_faces(make_face(*args), **kwargs)
    assert e is not None and validate(e.text, e).ok, validate(e.text, e).summary()
    return e


def test_duchenne_smile():
    e = explain({6: 3.5, 12: 4.5, 25: 2.0}, {"happiness": 0.9, "neutral": 0.1})
    assert [(o.code, o.intensity, o.band) for o in e.observations] == [("AU12", 4.5, "D"), ("AU6", 3.5, "D"), ("AU25", 2.0, "B")]
    assert e.observations[0].evidence_for == ("happiness", "contempt")
    assert e.patterns == ("duchenne_smile",)  # not the social smile: AU6 is there
    assert (e.au_label, e.au_secondary) == ("happiness", None)
    top = e.evidence[0]
    assert (top.label, top.supporting, top.opposing, top.missing) == ("happiness", ("AU12", "AU6", "AU25"), (), ())
    assert (e.classifier_label, e.agreement, e.label, e.probability, e.label_source) == ("happiness", True, "happiness", 0.9, "classifier")
    assert e.caveats == ()
    assert e.text == (
        "Key observations: AU12 (Lip Corner Puller) is active at intensity D (4.5, severe): lip corners pulled up "
        "and back, which points to happiness or contempt. AU6 Cheek Raiser shows at intensity D (3.5, severe), with "
        "cheeks raised, eyes narrowed from below, crow's feet, which points to happiness. AU25 Lips Part shows at "
        "intensity B (2.0, slight), with lips apart, evidence for surprise, fear or happiness.\n"
        "Overall emotional interpretation: AU6 and AU12 together form the Duchenne pattern of a felt smile: the "
        "cheeks rise with the lip corners. The AU evidence points most to happiness (score 0.77, 100%), through "
        "AU12, AU6 and AU25. The image classifier agrees: it gives happiness 90%.\n"
        "Conclusion: The expression is happiness (90%)."
    )


def test_smile_without_cheek_raise_is_social():
    assert explain({12: 4.0}).patterns == ("social_smile",)


def test_sad_brow_with_lip_corner_depression():
    e = explain({1: 3.5, 4: 3.0, 15: 4.0, 17: 2.0}, {"sadness": 0.7, "neutral": 0.3})
    assert [o.code for o in e.observations] == ["AU15", "AU1", "AU4", "AU17"]
    assert e.patterns == ("sad_brow", "sad_mouth")
    assert e.compounds == ("sadly angry",)  # AU4 + AU15 (Du et al. 2014)
    assert (e.au_label, e.au_secondary, e.label, e.agreement) == ("sadness", "fear", "sadness", True)
    fear = e.evidence_for("fear")
    assert fear.supporting == ("AU1", "AU4") and fear.missing == ("AU20", "AU5")
    assert "Fear" in e.text and "AU20 and AU5" in e.text and e.caveats == ()


def test_surprise_with_jaw_drop():
    e = explain({1: 4.0, 2: 4.0, 5: 3.0, 26: 4.0, 25: 3.0}, {"surprise": 0.8, "fear": 0.2})
    assert e.patterns == ("surprise_face",) and e.compounds == ("awed",)
    assert (e.au_label, e.au_secondary) == ("surprise", "fear")
    assert e.evidence_for("fear").missing == ("AU20",)  # what separates the two
    assert e.evidence[0].evidence == pytest.approx(0.741, abs=1e-3)
    assert e.label == "surprise" and e.probability == pytest.approx(0.8)


def test_contradictory_face_is_flagged():
    """A smile with lowered brows and lip corners, and a classifier that says anger at 45 %."""
    e = explain({12: 3.0, 4: 3.5, 15: 2.5}, {"anger": 0.45, "happiness": 0.35, "neutral": 0.2})
    assert e.au_label == "neutral" and e.au_secondary == "happiness"
    assert e.evidence_for("happiness").opposing == ("AU15",)
    assert e.evidence_for("anger").opposing == ("AU12",)
    assert (e.classifier_label, e.agreement, e.label) == ("anger", False, "anger")
    assert e.caveats == ("weak_evidence", "low_confidence", "opposing_aus", "disagreement")
    # The conclusion's label is neither of the top two AU readings, so its own evidence is stated.
    interpretation = e.text.split("\n")[1]
    assert "Anger itself is supported by AU4." in interpretation or "For anger, the supporting evidence is AU4." in interpretation
    conclusion = e.text.split("Conclusion:")[1]
    assert "weak" in conclusion and "disagree" in conclusion and "contradict" in conclusion


def test_one_sided_smile_is_contempt():
    # Left side only: AU14 (dimple) 2.5 and AU12 (smile) 2.0 on the 0-5 scale, right side at rest.
    blend = {"mouthDimpleLeft": 0.155, "mouthDimpleRight": 0.06, "mouthSmileLeft": 0.4, "mouthSmileRight": 0.1}
    e = explain({12: 2.0, 14: 2.5}, None, blend)
    assert [(o.code, o.asymmetry) for o in e.observations] == [("AU14", 2.5), ("AU12", 2.0)]
    assert "unilateral_smile" in e.patterns
    assert (e.au_label, e.label, e.label_source, e.classifier_label) == ("contempt", "contempt", "au-evidence", None)
    symmetric = explain({12: 2.0, 14: 2.5}, None, {"mouthDimpleLeft": 0.155, "mouthDimpleRight": 0.155,
                                                    "mouthSmileLeft": 0.4, "mouthSmileRight": 0.4})
    assert "unilateral_smile" not in symmetric.patterns and symmetric.au_label != "contempt"


def test_ground_truth_conclusion_says_where_the_aus_disagree():
    e = explain({6: 3.5, 12: 4.5}, {"happiness": 1.0}, targets=["sadness"])
    assert (e.label, e.label_source, e.au_label) == ("sadness", "ground-truth", "happiness")
    assert "label_differs_from_au" in e.caveats and "weak_evidence" in e.caveats
    assert "happiness" in e.text.split("Conclusion:")[1]
    agree = explain({6: 3.5, 12: 4.5}, {"happiness": 1.0}, targets=["happiness"])
    assert "label_differs_from_au" not in agree.caveats


def test_resting_face():
    e = explain({12: 0.6}, None)
    assert e.observations == () and e.au_label == "neutral" and e.label == "neutral"
    assert "No action unit" in e.text or "None of the measured" in e.text


def test_text_is_reproducible_and_seed_varies_it():
    faces = make_face({1: 3.5, 4: 3.0, 15: 4.0, 17: 2.0}, {"sadness": 0.7, "neutral": 0.3})
    a = explain_faces(faces)[0].text
    assert explain_faces(faces)[0].text == a
    texts = {explain_faces(faces, seed=s)[0].text for s in range(8)}
    assert len(texts) > 1
    structured = {json.dumps({**explain_faces(faces, seed=s)[0].to_dict(), "text": ""}) for s in range(8)}
    assert len(structured) == 1  # only the wording changes


def test_fast_evidence_equals_the_codebook(rng):
    aus = rng.uniform(0, 5, (200, len(AU_CODES))).astype(np.float32) * (rng.random((200, len(AU_CODES))) < 0.4)
    bs = rng.uniform(0, 1, (200, len(BLENDSHAPES))).astype(np.float32)
    asym = np.stack([au_asymmetry(n, bs) for n in ONE_SIDED_AUS], axis=1)
    np.testing.assert_allclose(au_evidence_fast(aus, asym), au_evidence(aus, bs), atol=1e-5)


def test_templates_are_data_and_languages_are_checked():
    assert "en" in languages()
    t = load_templates("en")
    assert set(t["headings"]) == {"observations", "interpretation", "conclusion"}
    with pytest.raises(ValueError, match="no explanation templates for language 'xx'"):
        load_templates("xx")
    with pytest.raises(ValueError, match="language 'xx'"):
        ChainOfThoughtExplainer(language="xx")


def test_faces_without_aus_are_left_alone_and_nan_aus_give_none():
    stage = ChainOfThoughtExplainer()
    f = make_face({12: 3.0})
    assert stage.process(np.zeros((8, 8, 3), np.uint8), f.with_fields(aus=None)).explanations is None
    nan = f.with_fields(aus=np.full((1, len(AU_CODES)), np.nan))
    assert stage.process(np.zeros((8, 8, 3), np.uint8), nan).explanations == (None,)


def test_real_photos_are_explained_faithfully(analyzer):
    """Every face of 24 lfw photos (six labels) gets an explanation that passes the validator,
    agrees with the classifier's label, and survives the JSON round trip."""
    paths = [p for emo in ("happiness", "neutral", "sadness", "surprise", "anger", "disgust") for p in lfw_paths(emo, 4)]
    for p in paths:
        r = analyzer.analyze(p)
        assert r.faces.explanations is not None and len(r.faces.explanations) == len(r.faces)
        for k, e in enumerate(r.faces.explanations):
            assert validate(e.text, e).ok, (p, validate(e.text, e).summary())
            assert e.label == r.faces.labels[k] and e.label_source == "classifier"
            assert e.classifier_probability == pytest.approx(float(r.faces.confidences[k]), abs=1e-3)
        back = FrameResult.from_json(r.to_json())
        assert back.faces.explanations == r.faces.explanations
    assert "explain" in r.timings_ms


def test_explain_stage_can_be_switched_off(happy_photo):
    with Analyzer(explain=None) as a:
        assert a.analyze(happy_photo).faces.explanations is None
