import io
import json

import numpy as np
import pytest
from PIL import Image

from ferx import Analyzer, ConfigError, Failure, Faces, Frame, FrameResult, load_image
from ferx.boxes import box_iou
from ferx.data.mosaic import compose, match
from ferx.errors import ImageSizeError
from tests.conftest import lfw_paths


def test_every_field_is_filled_for_a_real_photo(analyzer, happy_photo):
    r = analyzer.analyze(happy_photo)
    assert isinstance(r, FrameResult) and r.source == str(happy_photo)
    f = r.faces
    assert len(f) >= 1
    assert f.landmarks.shape[1:] == (478, 3) and f.blendshapes.shape[1] == 52
    assert f.aus.shape[1] == len(f.au_codes) and f.expression.shape[1] == 8
    assert np.isfinite(f.head_pose).all()
    assert {"decode", "detect", "landmarks", "aus", "expression", "explain", "total"} <= set(r.timings_ms)
    assert len(f.explanations) == len(f) and f.explanations[0].label == f.labels[0]
    assert r.notes == ()


def test_input_kinds_give_the_same_faces(analyzer, happy_photo):
    a = analyzer.analyze(happy_photo).faces
    rgb = load_image(happy_photo)
    for other in (happy_photo.read_bytes(), Image.open(happy_photo), rgb, Frame(rgb, source="x")):
        b = analyzer.analyze(other).faces
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)
        np.testing.assert_allclose(b.expression, a.expression, atol=1e-5)
    bgr = analyzer.analyze(rgb[..., ::-1].copy(), channels="bgr").faces
    np.testing.assert_allclose(bgr.aus, a.aus, atol=1e-5)


def test_grayscale_photo_works(analyzer):
    path = lfw_paths("happiness", 1, offset=3)[0]
    gray = np.asarray(Image.open(path).convert("L"))
    assert len(analyzer.analyze(gray).faces) == 1


def test_image_without_a_face_says_so(analyzer, rng):
    noise = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    r = analyzer.analyze(noise, source="noise")
    assert len(r.faces) == 0 and "no face found" in r.notes
    assert FrameResult.from_json(r.to_json()).notes == r.notes


def test_group_image_end_to_end(analyzer, face_refs, rng):
    """Composed 1920x1080 image with 10 faces of 32–160 px: recall, box IoU, no false positives."""
    sel = rng.choice(len(face_refs), 10, replace=False)
    sizes = list(rng.integers(32, 160, size=10))
    m = compose([face_refs[j][0] for j in sel], [face_refs[j][1] for j in sel], sizes, (1920, 1080), rng)
    r = analyzer.analyze(m.image)
    assigned, iou = match(m.boxes, r.faces.boxes)
    assert (assigned >= 0).sum() >= 9
    assert iou[assigned >= 0].mean() > 0.7
    assert len(r.faces) - (assigned >= 0).sum() <= 1
    assert np.isfinite(r.faces.aus).all() and np.isfinite(r.faces.expression).all()


def test_batch_reports_bad_items_and_keeps_the_rest(analyzer, tmp_path, happy_photo):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(happy_photo.read_bytes()[:300])
    inputs = [happy_photo, bad, tmp_path / "missing.png", happy_photo.read_bytes(), np.zeros((1, 1, 3), np.uint8)]
    out = list(analyzer.analyze_many(inputs))
    assert [type(o).__name__ for o in out] == ["FrameResult", "Failure", "Failure", "FrameResult", "Failure"]
    assert out[1].source == str(bad) and "truncated" in out[1].message
    assert "no such file" in out[2].message
    assert out[4].error == "ImageTooSmall" and isinstance(ImageSizeError("x"), Exception)
    assert isinstance(out[1], Failure) and out[1].to_dict()["error"] == "ImageReadError"
    assert len(out[0].faces) == len(out[3].faces) >= 1


def test_iter_frames_yields_the_decoded_image(analyzer, happy_photo):
    (frame, result), = analyzer.iter_frames([happy_photo])
    assert frame.image.shape == (result.height, result.width, 3)


def test_stages_can_be_switched_off_and_options_are_checked(happy_photo):
    with Analyzer(aus=None, expression=None, explain=None) as a:
        f = a.analyze(happy_photo).faces
        assert f.landmarks is not None and f.aus is None and f.expression is None and f.labels == [None]
        assert f.explanations is None  # nothing measured to explain
    with Analyzer(expression=None) as a:  # AU evidence alone concludes
        e = a.analyze(happy_photo).faces.explanations[0]
        assert e.classifier_label is None and e.label_source == "au-evidence" and e.label == e.au_label
    with Analyzer(landmarker=None, verifier=None, aus=None, expression=None, explain=None) as a:
        f = a.analyze(happy_photo).faces
        assert len(f) >= 1 and f.landmarks is None
    with pytest.raises(ConfigError, match="unknown option.*'min_fase'"):
        Analyzer(detector={"name": "blazeface", "options": {"min_fase": 10}})
    with pytest.raises(ConfigError, match="unknown config key"):
        Analyzer(detektor="blazeface")
    with pytest.raises(ConfigError, match="unknown detector backend 'retina'"):
        Analyzer(detector="retina")


def test_max_faces_keeps_the_largest(face_refs, rng):
    m = compose([r[0] for r in face_refs[:4]], [r[1] for r in face_refs[:4]], [60, 140, 90, 120], (1280, 720), rng)
    with Analyzer(max_faces=2) as a:
        r = a.analyze(m.image)
    widths = sorted((r.faces.boxes[:, 2] - r.faces.boxes[:, 0]).tolist())
    assert len(r.faces) == 2 and widths[0] > 100
    # said, as the service's docs promise ("the largest are kept, with a note"): it was silent
    assert any(n.endswith("detections before the landmark check; the 2 largest kept (max_faces)") for n in r.notes), r.notes


def test_size_limits_come_from_the_config():
    with Analyzer(min_image_side=64, landmarker=None, verifier=None, aus=None, expression=None, explain=None) as a:
        with pytest.raises(ImageSizeError, match="need at least 64"):
            a.analyze(np.zeros((50, 80, 3), np.uint8))


def test_exif_rotated_photo_is_analysed_upright(analyzer, happy_photo):
    upright = analyzer.analyze(happy_photo).faces
    img = Image.open(happy_photo).convert("RGB").rotate(90, expand=True)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    rotated = analyzer.analyze(buf.getvalue()).faces
    assert len(rotated) == len(upright) == 1
    assert abs(rotated.head_pose[0, 2] - upright.head_pose[0, 2]) < 8  # same roll: read upright


def test_huge_image_is_analysed_with_a_note(analyzer, happy_photo):
    canvas = Image.new("RGB", (12000, 12000), (120, 130, 125))
    canvas.paste(Image.open(happy_photo).convert("RGB").resize((1400, 1400)), (5000, 7000))
    r = analyzer.analyze(np.asarray(canvas))
    assert (r.width, r.height) == (12000, 12000)
    assert len(r.faces) == 1
    x1, y1, x2, y2 = r.faces.boxes[0]
    assert 5000 < (x1 + x2) / 2 < 6400 and 7000 < (y1 + y2) / 2 < 8400
    # the note says which faces were not looked for (a tryout: "tiny faces may be missed" gave no size);
    # 144 Mpx with the 1.2-Mpx cap: a 26-px model face is 26 / sqrt(1.2 / 144) ≈ 285 px here
    note = next(n for n in r.notes if "finest detection level was capped" in n)
    assert "smaller than about 285 px" in note and "max_level_pixels" in note


# -- reliability: threads, memory, closed analyzers, failures, stage chains --------------------------


def test_one_analyzer_shared_by_four_threads_gives_sequential_results(analyzer):
    import threading

    paths = lfw_paths("happiness", 4) + lfw_paths("sadness", 3) + lfw_paths("surprise", 3)
    images = [load_image(p) for p in paths]
    images += [np.asarray(Image.fromarray(im).resize((500, 420))) for im in images[:4]]  # other shapes
    expected = [analyzer.analyze(im).faces for im in images]
    problems: list[str] = []

    def work(offset: int) -> None:
        for j in range(12):
            k = (offset + 5 * j) % len(images)
            try:
                got = analyzer.analyze(images[k]).faces
            except Exception as e:  # pragma: no cover - what this test guards against
                problems.append(f"{k}: {e!r}")
                continue
            if len(got) != len(expected[k]) or not np.array_equal(got.expression, expected[k].expression) \
                    or not np.array_equal(got.landmarks, expected[k].landmarks):
                problems.append(f"{k}: differs from the sequential result")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []


@pytest.mark.slow  # measured 15–45 s on the loaded 2-core machine: CI runs it (make test-slow)
def test_memory_stays_bounded_over_many_image_sizes(tmp_path):
    """52 sizes of a real photo (200–2600 px, aspect 0.5–1.6) and a 60000×16 strip, in a fresh
    process: the peak stays under 600 MB. Before the interpreter budget and tiling, 60 sizes of
    one photo grew the process by 4.3 GB and the strip alone took 2.5 GB."""
    import subprocess
    import sys

    script = f"""
import numpy as np
from PIL import Image
from ferx import Analyzer
im = Image.open({str(lfw_paths("happiness", 1)[0])!r}).convert("RGB")
rng = np.random.default_rng(0)
# no verifier: sizes here squash the face up to 2:1, and the verifier (trained on undistorted faces)
# rejects 7 of the 52 squashed faces (measured 2026-12-06; its model card's limits): this test is
# about memory and the detector and mesh, which give one face in 51 of the 52
with Analyzer(verifier=None, expression=None, explain=None) as a:
    found = 0
    for k in range(52):
        w = int(rng.integers(200, 2600)); h = int(w * rng.uniform(0.5, 1.6))
        found += len(a.analyze(np.asarray(im.resize((w, h)))).faces) == 1
    strip = a.analyze(np.full((16, 60000, 3), 128, np.uint8))
# VmHWM, not getrusage: on Linux ru_maxrss survives exec, so a child of a large pytest process would
# report its parent's peak
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(found, len(strip.faces), peak // 1024)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    found, strip_faces, peak_mb = map(int, out.stdout.split()[-3:])
    assert found >= 48 and strip_faces == 0
    # issue 25's ceiling for a process fed photos of many sizes; 495 MB measured 2026-12-07 (the
    # detector's idle-interpreter budget at 6.5 tiles' worth instead of 4 held ~150 MB more)
    assert peak_mb < 600, f"peak RSS {peak_mb} MB"


def test_a_closed_analyzer_raises_instead_of_finding_nothing(happy_photo):
    from ferx.errors import ClosedError

    with Analyzer(explain=None) as a:
        assert len(a.analyze(happy_photo).faces) == 1
    with pytest.raises(ClosedError):
        a.analyze(happy_photo)
    with pytest.raises(ClosedError):
        list(a.analyze_many([happy_photo]))
    a.close()  # closing twice is harmless


def test_analyze_many_turns_any_per_input_problem_into_a_failure(analyzer, happy_photo, tmp_path):
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(happy_photo.read_bytes()[: happy_photo.stat().st_size // 2])
    lazy = Image.open(truncated)  # opened lazily: decoding fails only when the pixels are read
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    items = list(analyzer.analyze_many([happy_photo, lazy, loop, np.zeros((4,), np.uint8), happy_photo]))
    assert [type(i).__name__ for i in items] == ["FrameResult", "Failure", "Failure", "Failure", "FrameResult"]
    assert all(i.message for i in items if isinstance(i, Failure))
    assert "loop.jpg" in items[2].source


def test_a_stage_error_on_one_input_is_a_failure_and_the_batch_goes_on(happy_photo):
    class Fragile:
        needs = frozenset({"aus"})
        provides = frozenset()

        def process(self, image, faces, notes=None):
            if image.shape[0] == 300:
                raise FloatingPointError("overflow in a stage")
            return faces

        def close(self):
            pass

    with Analyzer(expression=None, explain=None) as a:
        a._stages.append(("explain", Fragile()))  # a faulty stage, injected
        odd = np.asarray(Image.open(happy_photo).convert("RGB").resize((300, 300)))
        items = list(a.analyze_many([happy_photo, odd, happy_photo]))
    assert [type(i).__name__ for i in items] == ["FrameResult", "Failure", "FrameResult"]
    assert items[1].error == "FloatingPointError" and "overflow" in items[1].message


def test_stages_that_do_not_fit_together_are_refused_when_built():
    with pytest.raises(ConfigError, match="expression stage .*needs landmarks.*landmarker 'mediapipe'"):
        Analyzer(pipeline="onepass", expression="onnx-classifier")
    with pytest.raises(ConfigError, match="explain stage .*needs aus"):
        Analyzer(aus=None)
    with pytest.raises(ConfigError, match="aus stage .*needs blendshapes, landmarks"):
        Analyzer(landmarker=None, verifier=None, expression=None, explain=None)
    with pytest.raises(ConfigError, match=r"verify stage .*needs landmarks.*\(provided by: landmarker 'mediapipe', "
                                          r"landmarker 'mediapipe-tasks'; or"):
        Analyzer(landmarker=None)  # the verifier reads the mesh's crop; it provides no landmarks of its own


def test_bad_backend_option_values_are_config_errors():
    with pytest.raises(ConfigError, match="min_face must be at least 8"):
        Analyzer(detector={"name": "blazeface", "options": {"min_face": 0}})


def test_a_face_crop_is_read_from_the_whole_image():
    """`whole_image_face`: "always" reads every image as one face crop (the box is the whole image,
    the detector is not asked); "auto" does so only where the detector finds no face in a small
    image; "never" is the detector alone."""
    from ferx import Analyzer
    from ferx.errors import ConfigError
    from tests.conftest import SHARED, lfw_paths

    crops = sorted((SHARED / "ferplus" / "FER2013Valid").glob("*.png"))
    found, missed = crops[0], crops[2]  # the detector finds the face in fer0028638, not in fer0028640
    photo = lfw_paths("happiness", 1)[0]
    with Analyzer(expression=None, explain=None) as auto, Analyzer(expression=None, explain=None, whole_image_face="never") as never, \
            Analyzer(expression=None, explain=None, whole_image_face="always") as always:
        whole = np.array([[0, 0, 48, 48]], np.float32)
        for a, crop in ((always, found), (always, missed), (auto, missed)):
            faces = a.analyze(crop).faces
            assert len(faces) == 1 and np.array_equal(faces.boxes, whole) and faces.has_landmarks.all(), (a, crop)
        assert len(never.analyze(missed).faces) == 0
        detected = auto.analyze(found).faces
        assert len(detected) == 1 and not np.array_equal(detected.boxes, whole)
        np.testing.assert_array_equal(detected.boxes, never.analyze(found).faces.boxes)
        # a photo keeps the detector's boxes
        np.testing.assert_array_equal(auto.analyze(photo).faces.boxes, never.analyze(photo).faces.boxes)
        # no face where there is none: the landmarker must confirm the whole-image face
        blank = np.full((120, 120, 3), 128, np.uint8)
        assert len(auto.analyze(blank).faces) == 0 and len(always.analyze(blank).faces) == 0
    with pytest.raises(ConfigError, match="whole_image_face"):
        Analyzer(whole_image_face="sometimes")


def test_a_tight_crop_no_box_confirms_whole_is_read_with_a_tighter_box():
    """Issue 25's tight crops: lfw's Donald_Rumsfeld_0041 (350 px, cut at the brow and chin) gets no face
    from the detector's boxes or the whole image, but the mesh and the verifier confirm its central 80 %
    (`CROP_RETRY_SHARES`; docs/runs/crop-retry-2026-12-07: +10 lfw photos with a face, no false face on
    400 face-free crops). Face-free crops of the test split's photos (the cat, the coffee) stay faceless."""
    from ferx.train.verify.data import skimage_photo
    from tests.conftest import LFW

    path = LFW / "images" / "Donald_Rumsfeld_0041.jpg"
    if not path.is_file():
        pytest.skip("no lfw-expressions")
    with Analyzer(aus=None, expression=None, explain=None) as a:
        result = a.analyze(path)
        assert len(result.faces) == 1 and "read as one face crop (its central 80%)" in " ".join(result.notes), result.notes
        x0, y0, x1, y1 = result.faces.boxes[0]
        assert (x0, y0, x1, y1) == pytest.approx((35, 35, 315, 315), abs=1)
        rng = np.random.default_rng(3)
        for photo in (skimage_photo("chelsea"), skimage_photo("coffee")):
            for side in rng.integers(48, 300, 8):
                y, x = (int(rng.integers(0, d - side + 1)) for d in photo.shape[:2])
                assert not len(a.analyze(np.ascontiguousarray(photo[y:y + side, x:x + side])).faces)
    with Analyzer(aus=None, expression=None, explain=None, tight_crop_boxes=False) as whole_only:
        assert not len(whole_only.analyze(path).faces)  # the whole image alone: no face, as before


def test_the_tight_crop_retry_reads_whole_then_tighter_boxes_in_order():
    """The retry's order with stub stages: detections the mesh rejects → the whole image, then its
    central 80 % and 65 %, stopping at the first box the mesh confirms; a detector that found nothing
    had the whole image read already, so only the tighter boxes follow; `tight_crop_boxes=False` reads
    the whole image only. The boxes and keypoints of a share: centred, scaled."""
    from ferx.pipeline import whole_image_face

    img = np.zeros((300, 400, 3), np.uint8)
    f = whole_image_face(img, 0.0, share=0.65)
    np.testing.assert_allclose(f.boxes, [[70, 52.5, 330, 247.5]])
    np.testing.assert_allclose(f.keypoints[0, 0], [70 + 0.32 * 260, 52.5 + 0.39 * 195], rtol=1e-6)

    class Detector:
        needs: frozenset = frozenset()
        provides = frozenset({"boxes", "scores", "keypoints"})

        def __init__(self, found: bool):
            self.found = found

        def process(self, image, faces, notes=None):
            if not self.found:
                return Faces.empty()
            return Faces(np.array([[0, 0, 50, 50]], np.float32), np.array([0.9], np.float32), np.full((1, 5, 2), 25, np.float32))

        def close(self):
            pass

    class Mesh:  # confirms only a box of width `accept` px; records the widths it was given
        needs = frozenset({"boxes"})
        provides = frozenset({"landmarks"})

        def __init__(self, accept: float):
            self.accept, self.widths = accept, []

        def process(self, image, faces, notes=None):
            w = faces.boxes[:, 2] - faces.boxes[:, 0]
            self.widths += [round(float(x)) for x in w]
            marks = np.where(np.isclose(w, self.accept)[:, None, None], 1.0, np.nan) * np.ones((len(faces), 478, 3))
            return faces.with_fields(landmarks=marks.astype(np.float32))

        def close(self):
            pass

    for found, accept, tight, widths, expected in ((True, 260, True, [50, 400, 320, 260], 1),
                                                   (False, 320, True, [400, 320], 1),
                                                   (True, 320, False, [50, 400], 0),
                                                   (False, 999, True, [400, 320, 260], 0)):
        with Analyzer(verifier=None, aus=None, expression=None, explain=None, tight_crop_boxes=tight) as a:
            mesh = Mesh(accept)
            a._stages[:] = [("detect", Detector(found)), ("landmarks", mesh)]
            result = a.analyze(img)
        assert mesh.widths == widths and len(result.faces) == expected, (found, accept, tight, mesh.widths, result.notes)
        if expected:
            assert result.faces.boxes[0, 2] - result.faces.boxes[0, 0] == pytest.approx(accept)
            assert f"its central {accept / 400:.0%}" in " ".join(result.notes)


def test_a_crop_whose_detections_are_unconfirmed_is_read_whole():
    """A tight crop where the detector reports only a false box (here: a corner of a 48-px FER+ crop;
    on 16 lfw-expressions photos a cut face) that the mesh rejects: "auto" pads and retries the whole
    image, and finds the face; "never" and a larger image do not retry."""
    from tests.conftest import SHARED

    crop = load_image(sorted((SHARED / "ferplus" / "FER2013Valid").glob("*.png"))[0])
    big = np.asarray(Image.fromarray(crop).resize((600, 600)))

    class CornerBox:
        needs: frozenset = frozenset()
        provides = frozenset({"boxes", "scores", "keypoints"})

        def process(self, image, faces, notes=None):
            s = image.shape[1] / 4
            pts = np.array([[[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]], np.float32) * s
            return Faces(np.array([[0, 0, s, s]], np.float32), np.array([0.9], np.float32), pts)

        def close(self):
            pass

    for mode, image, expected in (("auto", crop, 1), ("never", crop, 0), ("auto", big, 0)):
        with Analyzer(aus=None, expression=None, explain=None, whole_image_face=mode) as a:
            a._stages[0] = ("detect", CornerBox())
            result = a.analyze(image)
        assert len(result.faces) == expected, (mode, image.shape, result.notes)
        if expected:
            np.testing.assert_array_equal(result.faces.boxes, [[0, 0, 48, 48]])
            assert "read as one face crop" in " ".join(result.notes)


def test_describe_says_what_the_analyzer_produces_before_any_input(analyzer):
    from ferx.facs import AU_CODES
    from ferx.stages import AU_ESTIMATORS, PipelineInfo

    info = analyzer.describe()
    assert [s.slot for s in info.stages] == ["detect", "landmarks", "verify", "aus", "expression", "explain"]
    assert info.backends == {"detect": "blazeface", "landmarks": "mediapipe", "verify": "face-verifier", "aus": "facs",
                             "expression": "onnx-classifier", "explain": "cot"}
    assert info.au_codes == AU_CODES and "happiness" in info.expression_labels
    with AU_ESTIMATORS.create("facs") as stage:
        assert info.au_profile.to_dict() == stage.profile.to_dict()
    assert analyzer.provides == info.provides >= {"boxes", "landmarks", "aus", "expression", "explanations"}
    back = PipelineInfo.from_dict(json.loads(json.dumps(info.to_dict())))
    assert back == info and back.au_profile.to_dict() == info.au_profile.to_dict()
    with Analyzer(pipeline="onepass") as onepass:
        assert onepass.provides == {"boxes", "scores", "keypoints", "expression"} and onepass.describe().au_codes is None


def test_detect_runs_the_detector_alone(analyzer, happy_photo):
    frame = analyzer.decode(happy_photo, source=str(happy_photo))
    notes: list[str] = []
    found = analyzer.detect(frame, notes)
    full = analyzer.analyze(frame).faces
    assert len(found) == len(full) == 1 and found.landmarks is None and found.aus is None
    assert float(box_iou(found.boxes, full.boxes)[0, 0]) > 0.5  # the mesh moves the keypoints, not the box
    assert isinstance(frame, Frame)


def test_with_threads_sets_the_declared_cpu_options_and_changes_no_result(happy_photo):
    from ferx.config import AnalyzerConfig
    from ferx.pipeline import with_threads

    config = with_threads(AnalyzerConfig(), 1)
    assert config.detector.options == {"threads": 1} and config.landmarker.options == {"threads": 1}
    assert config.aus.options == {} and config.expression.options == {}  # onnxruntime stages keep theirs
    given = AnalyzerConfig.from_dict({"detector": {"name": "blazeface", "options": {"threads": 2}}})
    assert with_threads(given, 1).detector.options == {"threads": 2}  # what the config says stays
    with Analyzer() as two, two.with_threads(1) as one:
        a, b = two.analyze(happy_photo).faces, one.analyze(happy_photo).faces
        assert one.config.detector.options == {"threads": 1}
        assert np.array_equal(a.aus, b.aus) and np.array_equal(a.landmarks, b.landmarks)


def test_analyze_many_of_one_path_analyses_that_photo(analyzer, happy_photo):
    # issue 24: a single path used to be iterated character by character (9 "missing file" failures)
    import io

    # a file object too (a review: it iterated its lines, 74 failures for one JPEG)
    for single in (str(happy_photo), happy_photo, happy_photo.read_bytes(), io.BytesIO(happy_photo.read_bytes())):
        results = list(analyzer.analyze_many(single))
        assert len(results) == 1 and len(results[0].faces) == 1


def test_a_frame_without_a_face_carries_the_au_profile(analyzer, happy_photo):
    """A tryout: a 16×16 upload answered `"au_profile": null`, while a photo with a face carried the
    estimator's grades; a client reading the grades from every answer met a null."""
    from ferx.types import FrameResult

    blank = analyzer.analyze(np.full((200, 200, 3), 128, np.uint8)).to_dict()
    with_face = analyzer.analyze(happy_photo).to_dict()
    assert blank["faces"] == [] and blank["au_profile"] == with_face["au_profile"] is not None
    assert FrameResult.from_dict(blank).to_dict() == blank
