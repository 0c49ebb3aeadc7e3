"""The onepass pipeline: a shipped model on a real composed group image, through the Analyzer and the CLI."""

import json

import numpy as np
import pytest
from PIL import Image

from ferx import Analyzer, FrameResult, ModelFileError
from ferx.config import AnalyzerConfig, ConfigError
from ferx.data.mosaic import compose, match, single_faces
from ferx.data.readers import identity_split
from ferx.detect.onepass import DEFAULT_MODEL, OnnxDetector, model_files
from ferx.errors import ImageSizeError
from ferx.facs import EXPRESSIONS
from tests.conftest import LFW, lfw_rows


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """10 faces of test-split identities (boxes from the two-stage pipeline) on a 640×480 canvas."""
    paths = [LFW / "images" / r["image"] for r in lfw_rows()[3::7] if identity_split(r["identity"]) == "test"]
    with Analyzer(aus=None, expression=None, explain=None) as a:
        refs = single_faces(a, paths, 10)
    rng = np.random.default_rng(7)
    sizes = list(rng.integers(40, 90, len(refs)))
    m = compose([r[0] for r in refs], [r[1] for r in refs], sizes, (640, 480), rng, feather=0.1)
    path = tmp_path_factory.mktemp("group") / "group.png"
    Image.fromarray(m.image).save(path)
    return path, m


def test_shipped_model_card_is_consistent():
    path, meta = model_files(DEFAULT_MODEL)
    assert path.stat().st_size <= 20e6
    assert meta["labels"] == list(EXPRESSIONS) and meta["strides"] == [8, 16, 32]
    assert meta["input"]["size"] % 32 == 0 and len(meta["keypoint_template"]) == 5


def test_onepass_analyzer_on_a_real_group_image(group):
    path, m = group
    with Analyzer(pipeline="onepass") as analyzer:
        assert [s.slot for s in analyzer.describe().stages] == ["detect"]
        result = analyzer.analyze(path)
    assert isinstance(result, FrameResult)
    faces = result.faces
    assigned, iou = match(m.boxes, faces.boxes, iou_threshold=0.5)
    recall = float((assigned >= 0).mean())
    assert recall >= 0.8, (recall, len(faces))  # at the model's recorded threshold (0.4, chosen on validation)
    assert len(faces) <= len(m.boxes) + 2  # few false positives at the recorded threshold
    np.testing.assert_allclose(faces.expression.sum(1), 1.0, atol=1e-4)
    assert set(faces.labels) <= set(EXPRESSIONS) and faces.landmarks is None and faces.aus is None
    again = FrameResult.from_json(result.to_json())
    np.testing.assert_allclose(again.faces.boxes, faces.boxes, atol=1e-3)


def test_onepass_on_a_real_photograph_boxes_the_face_and_not_the_clutter():
    """The bundled portrait (space suit, flag, patches: clutter a detector trained on pasted faces
    over synthetic texture fired on 29 times): the only box must be the face the two-stage
    pipeline finds, and she is smiling."""
    from ferx.cli import demo_image

    with Analyzer(aus=None, expression=None, explain=None) as a:
        reference = a.analyze(demo_image()).faces.boxes
    with Analyzer(pipeline="onepass") as a:
        faces = a.analyze(demo_image()).faces
    assert len(reference) == 1
    assert len(faces) == 1, faces.boxes
    assigned, _ = match(reference, faces.boxes, iou_threshold=0.5)
    assert assigned[0] == 0
    assert faces.labels[0] == "happiness"


def test_onepass_with_landmarks_and_aus_on_its_boxes(group):
    path, m = group
    with Analyzer(pipeline="onepass", landmarker="mediapipe", aus="blendshapes") as analyzer:
        faces = analyzer.analyze(path).faces
    assert len(faces) >= 5
    assert faces.landmarks is not None and faces.aus is not None and faces.has_landmarks.all()
    assert faces.expression is not None  # still the detector's expression
    # mesh keypoints replaced the template: the eyes lie inside the box
    k = faces.keypoints[:, :2]
    assert ((k >= faces.boxes[:, None, :2] - 2) & (k <= faces.boxes[:, None, 2:] + 2)).all()


def test_cli_analyze_pipeline_onepass(group, tmp_path):
    from ferx.cli import main

    path, _ = group
    assert main(["analyze", str(path), "--pipeline", "onepass", "--out", str(tmp_path), "--quiet"]) == 0
    out = json.loads((tmp_path / "group.png.json").read_text())
    assert len(out["faces"]) >= 5 and "expression" in out["faces"][0] and "aus" not in out["faces"][0]
    saved = AnalyzerConfig.from_yaml(tmp_path / "config.yaml")
    assert saved.pipeline == "onepass" and saved.detector.name == "onepass" and saved.landmarker is None
    assert main(["analyze", str(path), "--aus", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_bad_setup_gives_specific_errors(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        Analyzer(pipeline="onepass", detector={"name": "onepass", "options": {"model": str(tmp_path / "no.onnx")}})
    with pytest.raises(ConfigError, match="unknown option.*'confidence'.*valid options: model, conf"):
        Analyzer(pipeline="onepass", detector={"name": "onepass", "options": {"confidence": 0.4}})
    with pytest.raises(ConfigError, match="unknown pipeline 'one-pass'"):
        Analyzer(pipeline="one-pass")
    det = OnnxDetector(DEFAULT_MODEL)
    with pytest.raises(ImageSizeError, match="too small"):
        det.predict(np.zeros((8, 40, 3), np.uint8))
    # a copied model whose bytes changed is refused
    src, meta = model_files(DEFAULT_MODEL)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(src.read_bytes()[:-10] + b"0" * 10)
    (tmp_path / "bad.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="sha256"):
        OnnxDetector(str(bad))


#: The clearest sad, angry and surprised faces of lfw-expressions' validation identities (no one-pass
#: model trained on them): per label, the photo on which the two-stage pipeline agrees with the
#: dataset's label most confidently (0.985, 0.993, 0.991) — chosen without the one-pass model.
CLEAR_FACES = {"Patricia_Garone_0001.jpg": "sadness", "Javier_Weber_0002.jpg": "anger",
               "Tony_Blair_0009.jpg": "surprise"}


@pytest.mark.xfail(strict=True, reason="issue 26 open: the shipped onepass-nano-csp said 'happiness' for all "
                   "three (0.39, 0.40, 0.41; measured 2026-12-06); with the second read of large faces (2026-12-07) it "
                   "says 'neutral' (1.00, 0.99, 1.00 with the copy pasted beside the photo) where the two-stage pipeline gives sadness 0.98, anger 0.99, "
                   "surprise 0.99; remove the mark when the stage reads them")
def test_cli_pipeline_onepass_reads_a_clearly_sad_angry_and_surprised_face(tmp_path):
    """Issue 26: `ferx analyze --pipeline onepass` must give each of the three its label. The shipped model
    of 2026-11-29 says "happiness" for all three (and for every validation close-up), hence the strict xfail:
    it turns into a failure the day a model reads them, and then the mark goes."""
    from ferx.cli import main

    paths = [LFW / "images" / name for name in CLEAR_FACES]
    if not all(p.is_file() for p in paths):
        pytest.skip("shared data not found")
    assert main(["analyze", *map(str, paths), "--pipeline", "onepass", "--out", str(tmp_path), "--quiet"]) == 0
    for name, label in CLEAR_FACES.items():
        faces = json.loads((tmp_path / f"{name}.json").read_text())["faces"]
        assert len(faces) == 1, (name, len(faces))
        assert faces[0]["expression"]["label"] == label, (name, faces[0]["expression"])


def test_the_second_read_of_large_faces_changes_only_their_expressions(group):
    """Faces larger than `large_face` model pixels take their class scores from a shrunk copy (pasted
    into the input's free strip, or read on its own where there is none); the faces found, their boxes
    and face scores, and the small faces' class scores stay as a plain read gives them (up to the
    pasted copy's faint pull through the receptive field)."""
    det = OnnxDetector(DEFAULT_MODEL, threads=2)
    close_up = np.asarray(Image.open(LFW / "images" / "Patricia_Garone_0001.jpg").convert("RGB"))
    crowd = np.asarray(Image.open(group[0]).convert("RGB"))
    for image in (close_up, crowd):
        b0, s0, p0 = det.predict(image)
        for paste in (True, False):
            b1, s1, p1 = det.predict(image, large_face=96, large_side=128, paste=paste)
            np.testing.assert_allclose(b0, b1, atol=1.0)
            np.testing.assert_allclose(s0, s1, atol=0.01)
            scale = min(1.0, det.size / max(image.shape[:2]))
            large = (b0[:, 2:] - b0[:, :2]).max(axis=1) * scale > 96
            np.testing.assert_allclose(p0[~large], p1[~large], atol=0.01)
            if image is close_up:
                assert large.all() and np.abs(p0 - p1).max() > 0.1  # the close-up's face is large and read again
            else:
                assert not large.any()  # the crowd's 40–90-px faces are not
    # with large_box the close-up's face also takes the second read's box (there, a different one)
    before, _, _ = det.predict(close_up)
    moved, _, _ = det.predict(close_up, large_face=96, large_side=128, large_box=True)
    assert moved.shape == before.shape == (1, 4) and np.abs(moved - before).max() > 1.0
