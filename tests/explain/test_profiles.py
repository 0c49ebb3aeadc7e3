"""AU grades belong to the estimator: the explainer, the codebook and the JSON read `Faces.au_profile`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferx import FrameResult
from ferx.explain.cot import explain_faces
from ferx.explain.validate import reasoning_issues, validate
from ferx.expression.codebook import AUCodebookExpression
from ferx.facs import MESH_PROFILE, AUProfile, one_sidedness
from tests.explain.conftest import GRADED, make_face

#: A profile in which AU4, AU7, AU15, AU23 and AU24 are measured well (where `GRADED` has AU7, AU15,
#: AU23 and AU24 unreliable and AU4 weak), AU15 and AU24 capped at weak.
HEADS_LIKE = AUProfile("test-heads", {**GRADED.validity, 7: 0.92, 24: 0.92, 23: 0.93, 4: 0.93, 15: 0.95}, 0.15, 0.15,
                       {24: "weak", 15: "weak"})


def test_grades_follow_validity_and_caps():
    assert GRADED.grade("AU7") == "unreliable" and HEADS_LIKE.grade("AU7") == "good"
    assert HEADS_LIKE.grade("AU23") == "good" and HEADS_LIKE.grade("AU24") == "weak"  # 0.92 would be good
    assert HEADS_LIKE.grade("AU18") == "ungraded" and HEADS_LIKE.grade("AUX") is None
    assert not GRADED.is_measured("AU7") and HEADS_LIKE.is_measured("AU7") and HEADS_LIKE.is_measured("AU99")
    with pytest.raises(ValueError, match="not in the FACS table"):
        AUProfile("bad", {99: 0.8})
    with pytest.raises(ValueError, match="not grades"):
        AUProfile("bad", {4: 0.8}, caps={4: "excellent"})
    with pytest.raises(ValueError, match="temperature"):
        AUProfile("bad", {}, temperature=0)


def test_profile_round_trips_through_a_dict():
    back = AUProfile.from_dict(json.loads(json.dumps(HEADS_LIKE.to_dict())))
    assert back.to_dict() == HEADS_LIKE.to_dict()
    assert [au.reliability for au in back.units] == [au.reliability for au in HEADS_LIKE.units]


def test_the_explainer_grades_by_the_faces_profile():
    """The same numbers: under grades where AU7 is unreliable it is no observation and AU4 (weak) is
    never called absent; under a profile that measures them, AU7 is observed and evidence for anger."""
    face = make_face({4: 3.0, 7: 3.0, 12: 0.0}, {"anger": 0.8, "neutral": 0.2})
    (mesh,) = explain_faces(face)
    (heads,) = explain_faces(face.with_fields(au_profile=HEADS_LIKE))
    assert "AU7" not in mesh.active_codes and "AU7" in heads.active_codes
    assert "anger_glare" in heads.patterns and "anger_glare" not in mesh.patterns
    assert heads.evidence_for("anger").supporting == ("AU4", "AU7") and mesh.evidence_for("anger").supporting == ("AU4",)
    for e, profile in ((mesh, GRADED), (heads, HEADS_LIKE)):
        assert validate(e.text, e).ok
        assert reasoning_issues(e.text, e, profile=profile) == ()
    # the profile's scoring is used: a lower temperature makes the AU reading more decisive
    sharp = AUProfile("sharp", HEADS_LIKE.validity, HEADS_LIKE.neutral_evidence, 0.05, HEADS_LIKE.caps)
    (s,) = explain_faces(face.with_fields(au_profile=sharp))
    assert s.evidence_for("anger").probability > heads.evidence_for("anger").probability


def test_a_capped_au_is_never_called_absent():
    """Sadness's defining AU15 is graded good by its validity but capped at weak: its absence is
    stated only without the cap."""
    face = make_face({1: 3.5, 4: 3.0}, {"sadness": 0.8, "neutral": 0.2})
    uncapped = AUProfile("uncapped", HEADS_LIKE.validity, 0.15, 0.15)
    (e_cap,) = explain_faces(face.with_fields(au_profile=HEADS_LIKE))
    (e_free,) = explain_faces(face.with_fields(au_profile=uncapped))
    assert e_free.evidence_for("sadness").missing == ("AU15",)
    assert e_cap.evidence_for("sadness").missing == ()
    assert reasoning_issues(e_cap.text, e_cap, profile=HEADS_LIKE) == ()


def test_the_codebook_scores_with_the_faces_profile():
    face = make_face({7: 4.0}, None)  # lids tightened, nothing else: evidence for anger only where AU7 is measured
    stage = AUCodebookExpression()
    mesh = stage.process(np.zeros((1, 1, 3), np.uint8), face).expression[0]
    heads = stage.process(np.zeros((1, 1, 3), np.uint8), face.with_fields(au_profile=HEADS_LIKE)).expression[0]
    assert heads[4] > mesh[4] and heads.argmax() == 4 and mesh.argmax() == 0  # anger vs neutral


def test_json_carries_the_profile_and_its_grades():
    face = make_face({4: 3.0}, {"anger": 0.8, "neutral": 0.2}).with_fields(au_profile=HEADS_LIKE)
    r = FrameResult(faces=face, width=10, height=10, source="x")
    d = json.loads(r.to_json())
    assert d["au_profile"]["name"] == "test-heads" and d["au_profile"]["caps"] == {"AU15": "weak", "AU24": "weak"}
    assert d["faces"][0]["aus"]["AU7"]["reliability"] == "good" and d["faces"][0]["aus"]["AU24"]["reliability"] == "weak"
    back = FrameResult.from_json(r.to_json())
    assert back.faces.au_profile.to_dict() == HEADS_LIKE.to_dict()
    # faces without a profile are graded as the mesh estimator grades itself
    plain = json.loads(FrameResult(faces=make_face({4: 3.0}, profile=None), width=10, height=10, source="x").to_json())
    assert plain["au_profile"] is None
    assert plain["faces"][0]["aus"]["AU7"]["reliability"] == MESH_PROFILE.grade("AU7")


def test_one_sidedness_never_exceeds_the_reported_intensity():
    face = make_face({14: 1.0, 12: 4.0}, None, {"mouthDimpleLeft": 0.3, "mouthDimpleRight": 0.0,
                                                 "mouthSmileLeft": 0.9, "mouthSmileRight": 0.1})
    asym = one_sidedness(face.aus, face.blendshapes)
    assert asym[0, 1] == pytest.approx(1.0)  # AU14: the mesh's sides differ by 5, the AU reads 1.0
    assert 0 < asym[0, 0] <= 4.0
