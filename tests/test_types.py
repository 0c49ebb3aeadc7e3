import json

import numpy as np
import pandas as pd
import pytest

from ferx.facs import AU_CODES, BLENDSHAPES, EXPRESSIONS
from ferx.types import Faces, Frame, FrameResult


def make_faces(n: int = 3, rng=None) -> Faces:
    rng = rng or np.random.default_rng(0)
    xy = rng.uniform(0, 100, (n, 2))
    boxes = np.hstack([xy, xy + rng.uniform(20, 50, (n, 2))])
    probs = rng.dirichlet(np.ones(len(EXPRESSIONS)), n)
    return Faces(
        boxes=boxes,
        scores=rng.uniform(0.5, 1, n),
        keypoints=rng.uniform(0, 150, (n, 5, 2)),
        landmarks=rng.uniform(0, 150, (n, 478, 3)),
        blendshapes=rng.uniform(0, 1, (n, len(BLENDSHAPES))),
        head_pose=rng.uniform(-30, 30, (n, 3)),
        aus=rng.uniform(0, 5, (n, len(AU_CODES))),
        expression=probs,
    )


def test_shapes_are_checked():
    f = make_faces(2)
    with pytest.raises(ValueError, match="keypoints must have shape"):
        Faces(f.boxes, f.scores, np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="scores must have shape"):
        Faces(f.boxes, np.zeros(3), f.keypoints)
    with pytest.raises(ValueError, match="aus must have shape"):
        f.with_fields(aus=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="x2 >= x1"):
        Faces(np.array([[10, 10, 5, 20]]), np.ones(1), np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match="probabilities"):
        f.with_fields(expression=np.ones((2, len(EXPRESSIONS))))


def test_arrays_become_float32():
    f = make_faces(2)
    assert all(getattr(f, n).dtype == np.float32 for n in ("boxes", "scores", "landmarks", "aus", "expression"))


def test_mask_int_and_slice_indexing_keep_rows_aligned():
    f = make_faces(4)
    mask = f.scores > np.median(f.scores)
    sub = f[mask]
    assert len(sub) == mask.sum()
    np.testing.assert_array_equal(sub.landmarks, f.landmarks[mask])
    np.testing.assert_array_equal(sub.aus, f.aus[mask])
    assert f[2].labels.tolist() == [f.labels[2]]
    assert len(f[1:3]) == 2
    assert [len(x) for x in f] == [1, 1, 1, 1]
    with pytest.raises(IndexError):
        f[np.array([True, False])]


def test_labels_and_confidences_follow_argmax():
    f = make_faces(3)
    for i, lab in enumerate(f.labels):
        assert lab == EXPRESSIONS[int(np.argmax(f.expression[i]))]
        assert f.confidences[i] == pytest.approx(f.expression[i].max())


def test_empty_faces_serialise():
    r = FrameResult("x.jpg", 10, 20, Faces.empty())
    back = FrameResult.from_json(r.to_json())
    assert len(back.faces) == 0 and back.width == 10 and back.height == 20


def test_json_round_trip_keeps_every_field():
    f = make_faces(3)
    f = f.with_fields(landmarks=np.where(np.arange(3)[:, None, None] == 1, np.nan, f.landmarks))
    r = FrameResult("a/b.jpg", 640, 480, f, index=7, timestamp=1.5, timings_ms={"detect": 3.0}, notes=("hi",))
    text = r.to_json()
    json.loads(text)  # strict JSON: NaN became null
    assert "NaN" not in text
    back = FrameResult.from_json(text)
    assert (back.source, back.index, back.timestamp, back.notes) == ("a/b.jpg", 7, 1.5, ("hi",))
    for name in ("boxes", "scores", "keypoints", "blendshapes", "head_pose", "aus", "expression"):
        np.testing.assert_allclose(getattr(back.faces, name), getattr(f, name), atol=1e-4, err_msg=name)
    np.testing.assert_allclose(back.faces.landmarks, f.landmarks, atol=5e-3)  # 2 decimals
    assert not back.faces.has_landmarks[1] and back.faces.has_landmarks[[0, 2]].all()
    assert back.faces.labels.tolist() == f.labels.tolist()


def test_records_have_readable_au_bands():
    from tests.explain.conftest import GRADED

    f = make_faces(1).with_fields(aus=np.full((1, len(AU_CODES)), 0.3), au_profile=GRADED)
    f = f.with_fields(aus=np.where(np.arange(len(AU_CODES)) == 0, 4.2, f.aus))
    rec = f.to_records()[0]
    assert rec["aus"]["AU1"] == {"intensity": 4.2, "band": "D", "reliability": "weak"}
    assert rec["aus"]["AU2"]["band"] is None
    assert rec["aus"]["AU12"]["reliability"] == "good" and rec["aus"]["AU9"]["reliability"] == "unreliable"


def test_to_pandas_has_one_row_per_face():
    f = make_faces(3)
    df = FrameResult("p.jpg", 100, 100, f, index=2).to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    assert {"source", "frame", "x1", "label", "p_happiness", "AU12", "yaw", "bs_jawOpen"} <= set(df.columns)
    assert (df["source"] == "p.jpg").all()
    np.testing.assert_allclose(df["AU12"], f.aus[:, AU_CODES.index("AU12")])


def test_frame_requires_uint8_rgb():
    with pytest.raises(ValueError, match="uint8 RGB"):
        Frame(np.zeros((4, 4), np.uint8))
    assert Frame(np.zeros((4, 5, 3), np.uint8)).width == 5


def with_explanations(faces: Faces) -> Faces:
    from ferx.explain.cot import explain_faces

    expl = list(explain_faces(faces))
    expl[1] = None  # a face that could not be explained
    return faces.with_fields(explanations=tuple(expl))


def test_explanations_are_checked_indexed_and_serialised():
    f = with_explanations(make_faces(3))
    with pytest.raises(ValueError, match="explanations must hold 3"):
        f.with_fields(explanations=f.explanations[:2])
    with pytest.raises(ValueError, match="explanations must hold 3"):
        f.with_fields(explanations=("text", None, None))
    assert f[np.array([False, True, True])].explanations == f.explanations[1:]
    assert f[2].explanations == (f.explanations[2],) and f[[2, 0]].explanations == (f.explanations[2], f.explanations[0])
    assert f[::2].explanations == (f.explanations[0], f.explanations[2])
    r = FrameResult("x.jpg", 200, 150, f)
    back = FrameResult.from_json(r.to_json())
    assert back.faces.explanations == f.explanations  # frozen dataclasses: field-wise equality
    assert json.loads(r.to_json())["faces"][1]["explanation"] is None
    df = r.to_pandas()
    assert list(df["explanation"])[0].startswith("Key observations:") and df["explanation"].isna().tolist() == [False, True, False]
    assert df["au_label"][0] == f.explanations[0].au_label and df["au_agrees"][0] == f.explanations[0].agreement


def test_explanation_label_source_is_checked():
    from dataclasses import replace

    good = with_explanations(make_faces(3)).explanations[0]
    with pytest.raises(ValueError, match="label_source"):
        replace(good, label_source="oracle")


def test_area_and_largest_keep_the_original_order():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 30, 30], [5, 5, 25, 25], [0, 0, 1, 40]], np.float32)
    f = Faces(boxes, np.linspace(0.5, 0.9, 4), np.zeros((4, 5, 2)))
    np.testing.assert_array_equal(f.area, [100, 900, 400, 40])
    np.testing.assert_array_equal(f.largest_rows(2), [1, 2])  # by area, then back in row order
    np.testing.assert_array_equal(f.largest(2).boxes, boxes[[1, 2]])
    assert len(f.largest(10)) == 4 and len(f.largest(0)) == 0
    assert len(Faces.empty().largest(3)) == 0 and Faces.empty().area.shape == (0,)


def test_concat_fills_missing_fields_with_nan_and_keeps_explanations_aligned():
    a = make_faces(2)
    b = Faces(np.array([[1, 1, 9, 9]]), np.ones(1), np.zeros((1, 5, 2)))  # a detector's faces only
    both = Faces.concat([a, Faces.empty(), b])
    assert len(both) == 3 and both.au_codes == a.au_codes
    np.testing.assert_array_equal(both.boxes[:2], a.boxes)
    assert np.isnan(both.aus[2]).all() and np.isnan(both.landmarks[2]).all() and np.isfinite(both.aus[:2]).all()
    assert Faces.concat([]) is not None and len(Faces.concat([Faces.empty()])) == 0
    assert Faces.concat([b]) is b
    maps_a = a.with_fields(expression_maps=np.zeros((2, 6, 6)))
    maps_b = b.with_fields(expression_maps=np.zeros((1, 7, 7)))
    assert Faces.concat([maps_a, maps_b]).expression_maps is None  # different sizes cannot stack


def test_field_tuples_name_every_faces_field():
    import dataclasses

    from ferx.types import ARRAY_FIELDS, FACE_FIELDS

    names = {f.name for f in dataclasses.fields(Faces)}
    assert set(FACE_FIELDS) <= names and set(FACE_FIELDS) - set(ARRAY_FIELDS) == {"explanations"}
    assert names - set(FACE_FIELDS) == {"au_codes", "expression_labels", "au_profile"}  # per-frame, not per-face


def test_labels_are_an_array_like_every_other_field():
    f = make_faces(5)
    labels = f.labels
    assert isinstance(labels, np.ndarray) and labels.shape == (5,)
    top = labels[0]
    chosen = f[labels == top]  # a mask, as with f.scores > 0.5
    assert len(chosen) == int((labels == top).sum()) >= 1 and set(chosen.labels) == {top}
    unscored = f.with_fields(expression=np.full((5, len(EXPRESSIONS)), np.nan))
    assert unscored.labels.tolist() == [None] * 5 and Faces.empty().labels.shape == (0,)


def test_printing_a_result_is_one_short_line():
    f = make_faces(2)
    r = FrameResult("photos/a.jpg", 640, 480, f, notes=("no face found",))
    text = str(r)
    assert "\n" not in text and len(text) < 300 and "array(" not in text
    assert text.startswith("FrameResult(source='photos/a.jpg', 640x480, Faces(2 faces: ")
    assert f"{f.labels[0]} {f.confidences[0]:.2f}" in text and "notes=['no face found']" in text
    assert repr(Faces.empty()).startswith("Faces(0 faces; fields: boxes scores keypoints")
    # faces without an expression stage are counted, not listed as "face, face, …"
    assert repr(Faces(np.zeros((3, 4)), np.ones(3), np.zeros((3, 5, 2)))).startswith("Faces(3 faces; fields: ")
    frame = Frame(np.zeros((48, 64, 3), np.uint8), source="clip.mp4", index=3, timestamp=0.125)
    assert repr(frame) == "Frame(source='clip.mp4', 64x48, index=3, timestamp=0.125)"


def test_with_notes_puts_new_notes_first_once():
    r = FrameResult("a.jpg", 10, 10, Faces.empty(), notes=("no face found",))
    assert r.with_notes(["clipped"]).with_notes(["clipped", "dark"]).notes == ("dark", "clipped", "no face found")
    assert r.with_notes([]) is r


def test_a_frame_without_a_face_comes_back_from_json_with_its_fields(analyzer):
    """The round trip lost the field list of a frame without a face: 112 columns became 18."""
    from ferx import FrameResult

    r = analyzer.analyze(np.full((120, 160, 3), 90, np.uint8))
    back = FrameResult.from_json(r.to_json())
    assert list(back.to_pandas().columns) == list(r.to_pandas().columns) and len(r.to_pandas().columns) > 100
    assert back.faces.aus is not None and back.faces.aus.shape == (0, len(r.faces.au_codes))
    with pytest.raises(ValueError, match="not a ferx result"):  # was KeyError: 'faces'
        FrameResult.from_json("[1, 2]")
