import json

import numpy as np
import pytest

from ferx import Analyzer, Explanation, FrameResult
from ferx.explain.cot import ONE_SIDED_AUS, ChainOfThoughtExplainer, au_evidence_fast, explain_faces
from ferx.explain.templates import languages, load_templates
from ferx.explain.validate import reasoning_issues, validate
from ferx.facs import AU_CODES, BLENDSHAPES, au_asymmetry
from tests.conftest import lfw_paths
from tests.explain.conftest import GRADED, make_face


def explain(*args, **kwargs) -> Explanation:
    (e,) = explain_faces(make_face(*args), **kwargs)
    assert e is not None and validate(e.text, e).ok, validate(e.text, e).summary()
    return e


def test_duchenne_smile():
    e = explain({6: 3.5, 12: 4.5, 25: 2.0}, {"happiness": 0.9, "neutral": 0.1})
    # fixed band edges: 4.5 is E (round-half-to-even used to make it D while 3.5 was D)
    assert [(o.code, o.intensity, o.band) for o in e.observations] == [("AU12", 4.5, "E"), ("AU6", 3.5, "D"), ("AU25", 2.0, "B")]
    assert e.observations[0].evidence_for == ("happiness", "contempt")
    assert "happiness" not in e.observations[2].evidence_for  # AU25 is no evidence for happiness
    assert e.patterns == ("duchenne_smile",)  # not the social smile: AU6 is there
    assert (e.au_label, e.au_secondary) == ("happiness", None)
    top = e.evidence[0]
    assert (top.label, top.supporting, top.opposing, top.missing) == ("happiness", ("AU12", "AU6"), (), ())
    assert (e.classifier_label, e.agreement, e.label, e.probability, e.label_source) == ("happiness", True, "happiness", 0.9, "classifier")
    assert e.caveats == ()
    # calibrated AU-only probability: (12: 4.5/5 · 1.0 + 6: 3.5/5 · 0.7) / 1.7 = 0.818 against neutral 0.19 at
    # temperature 0.2 → 92 %, not the 100 % of the old temperature 0.05
    assert top.evidence == pytest.approx(0.818, abs=1e-3) and top.probability == pytest.approx(0.922, abs=2e-3)
    interpretation, conclusion = e.text.split("\n")[1:]
    assert "Duchenne" in interpretation and "92%" in interpretation and "agrees" in interpretation
    assert conclusion.startswith("Conclusion:") and "happiness (90%)" in conclusion


def test_a_trace_of_smile_is_neither_felt_nor_social():
    """The smile patterns need AU12 at band B; and AU6 is graded weak, so a smile without it is not
    called social (its absence cannot be vouched for)."""
    assert explain({12: 1.2, 6: 1.2}).patterns == ()
    assert explain({12: 4.0}).patterns == ()
    assert "social" not in explain({12: 4.0}).text
    assert explain({12: 2.0, 6: 1.6}).patterns == ("duchenne_smile",)


def test_sad_brow_and_unmeasured_mouth():
    """AU15 and AU17 are graded unreliable: not observations, not evidence, and the text says that
    sadness's defining AU15 was not measured instead of calling it absent."""
    e = explain({1: 3.5, 4: 3.0, 15: 4.0, 17: 2.0}, {"sadness": 0.7, "neutral": 0.3})
    assert [o.code for o in e.observations] == ["AU1", "AU4"]
    assert e.patterns == ("sad_brow",) and e.compounds == ()
    assert (e.au_label, e.label, e.agreement) == ("sadness", "sadness", True)
    assert e.evidence_for("sadness").missing == ()  # AU15 is not measured: not "missing"
    assert "AU15" in e.text and "measured reliably" in e.text and "absent" not in e.text  # either wording
    assert e.notes and "AU15" in e.notes[0]
    same = explain({1: 3.5, 4: 3.0}, {"sadness": 0.7, "neutral": 0.3})
    assert same.evidence == e.evidence  # the unreliable readings changed nothing


def test_surprise_open_mouth_only_with_lips_or_jaw():
    e = explain({1: 4.0, 2: 4.0, 5: 3.0, 26: 4.0, 25: 3.0}, {"surprise": 0.8, "fear": 0.2})
    assert e.patterns == ("surprise_face",) and e.compounds == ("awed",)
    assert (e.au_label, e.au_secondary) == ("surprise", "fear")
    # (0.8·0.8 + 0.8·0.8 + 0.8·0.6 + 1.0·0.8 + 0.3·0.6) / 3.7: AU27 (unreliable) is not in the mean
    assert e.evidence[0].evidence == pytest.approx(2.74 / 3.7, abs=1e-3)
    assert e.label == "surprise" and e.probability == pytest.approx(0.8)
    assert "open mouth" in e.text
    closed = explain({1: 4.0, 2: 4.0, 5: 3.0}, {"surprise": 0.8, "fear": 0.2})
    assert closed.patterns == ("surprise_brow",) and "open mouth" not in closed.text
    assert "AU26" in closed.evidence_for("surprise").missing  # AU26 is graded good: its absence is said


def test_disagreement_is_said_once_and_carried_into_the_conclusion():
    """A smile with lowered brows, and a classifier that says anger at 45 %."""
    e = explain({12: 3.0, 4: 3.5, 15: 2.5}, {"anger": 0.45, "happiness": 0.35, "neutral": 0.2})
    assert e.au_label == "happiness" and e.evidence_for("anger").opposing == ("AU12",)
    assert (e.classifier_label, e.agreement, e.label) == ("anger", False, "anger")
    assert e.caveats == ("low_confidence", "opposing_aus", "disagreement")
    interpretation = e.text.split("\n")[1]
    assert interpretation.count("classifier") == 1 and "disagree" in interpretation
    assert "Anger itself is supported by AU4." in interpretation or "For anger, the supporting evidence is AU4." in interpretation
    conclusion = e.text.split("Conclusion:")[1]
    assert conclusion.index("anger") < conclusion.index("happiness")  # the label, then the caveat
    assert reasoning_issues(e.text, e) == ()


def test_reasoning_check_catches_silent_disagreement_and_unreliable_absence():
    e = explain({12: 3.0, 4: 3.5}, {"anger": 0.45, "happiness": 0.35, "neutral": 0.2})
    obs, _, _ = e.text.split("\n")
    silent = obs + "\nOverall emotional interpretation: The AUs favour happiness through AU12.\nConclusion: The expression is anger (45%)."
    assert [i.kind for i in reasoning_issues(silent, e, profile=GRADED)] == ["silent_disagreement"]
    absent = e.text.replace("Conclusion:", "For disgust, AU9 is absent. Conclusion:")
    assert [i.kind for i in reasoning_issues(absent, e, profile=GRADED)] == ["absent_unreliable"]


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


def test_fast_evidence_is_the_prototype_mean_over_measured_aus(rng):
    """au_evidence_fast = weighted mean of each emotion's measured prototype AUs minus half the
    strongest measured opposing AU; emotions whose defining AUs are all unmeasured (disgust: AU9,
    AU10 under `GRADED`) get no evidence. Checked against a loop over facs.EMOTION_PROTOTYPES."""
    from ferx.facs import EMOTION_PROTOTYPES, EXPRESSIONS, au_index, core_aus

    AU_BY_NUMBER = GRADED.by_number

    aus = rng.uniform(0, 5, (200, len(AU_CODES))).astype(np.float32) * (rng.random((200, len(AU_CODES))) < 0.4)
    bs = rng.uniform(0, 1, (200, len(BLENDSHAPES))).astype(np.float32)
    asym = np.stack([au_asymmetry(n, bs) for n in ONE_SIDED_AUS], axis=1)
    fast = au_evidence_fast(aus, asym, GRADED)
    a = aus / 5.0
    for j, emotion in enumerate(EXPRESSIONS):
        proto = EMOTION_PROTOTYPES.get(emotion)
        if proto is None or proto.unilateral:
            continue
        seen = {n: w for n, w in proto.supports.items() if AU_BY_NUMBER[n].measured}
        if not any(AU_BY_NUMBER[n].measured for n in core_aus(emotion)):
            assert (fast[:, j] == 0).all(), emotion
            continue
        want = sum(w * a[:, au_index(n)] for n, w in seen.items()) / sum(seen.values())
        opp = [au_index(n) for n in proto.opposes if AU_BY_NUMBER[n].measured]
        if opp:
            want = want - 0.5 * a[:, opp].max(axis=1)
        np.testing.assert_allclose(fast[:, j], want, atol=1e-5, err_msg=emotion)
    assert (fast[:, EXPRESSIONS.index("disgust")] == 0).all()  # AU9 and AU10 are not measured


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
            assert reasoning_issues(e.text, e, profile=r.faces.grading) == (), (p, reasoning_issues(e.text, e, profile=r.faces.grading))
            assert e.label == r.faces.labels[k] and e.label_source == "classifier"
            assert e.classifier_probability == pytest.approx(float(r.faces.confidences[k]), abs=1e-3)
        back = FrameResult.from_json(r.to_json())
        assert back.faces.explanations == r.faces.explanations
    assert "explain" in r.timings_ms


def test_explain_stage_can_be_switched_off(happy_photo):
    with Analyzer(explain=None) as a:
        assert a.analyze(happy_photo).faces.explanations is None
