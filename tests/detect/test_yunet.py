import threading

import numpy as np
import pytest

from ferx import Faces, load_image
from ferx.assets import demo_image, yunet_path
from ferx.data.mosaic import compose, match
from ferx.detect.yunet import YuNetDetector, decode
from tests.conftest import centred_face, lfw_paths


@pytest.fixture(scope="module")
def detector():
    with YuNetDetector() as d:
        yield d


def _opencv(image: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """OpenCV's own YuNet runner on the same file, at the image's size: (M, 15) rows."""
    cv2 = pytest.importorskip("cv2")
    h, w = image.shape[:2]
    runner = cv2.FaceDetectorYN.create(str(yunet_path()), "", (w, h), threshold, 0.3, 5000)
    _, rows = runner.detect(np.ascontiguousarray(image[:, :, ::-1]))
    return np.zeros((0, 15), np.float32) if rows is None else rows


def test_decoding_matches_opencvs_face_detector_yn():
    """The same file through OpenCV's `FaceDetectorYN` (which decodes in C++) and through ferx's
    `decode` at scale 1: the best face's score, box and five points agree."""
    with YuNetDetector(model_min=24, min_face=24) as d:  # scale 1: the image as OpenCV reads it
        for path in lfw_paths("happiness", 3) + lfw_paths("surprise", 2) + [demo_image()]:
            image = load_image(path)
            ref = _opencv(image)
            assert len(ref) >= 1
            raw, th, tw = d.raw(image)
            boxes, scores, points = decode(raw, th, tw, 0.6)
            best = int(np.argmax(scores))
            box = np.concatenate([ref[0, :2], ref[0, :2] + ref[0, 2:4]])
            np.testing.assert_allclose(scores[best], ref[0, 14], atol=1e-4)
            np.testing.assert_allclose(boxes[best], box, atol=1e-2)
            np.testing.assert_allclose(points[best], ref[0, 4:14].reshape(5, 2), atol=1e-2)


def test_finds_the_face_in_real_photos_with_points_in_fer_order(detector):
    paths = lfw_paths("neutral", 10) + lfw_paths("happiness", 10)
    found = 0
    for p in paths:
        img = load_image(p)
        faces = detector.process(img, Faces.empty())
        i = centred_face(img, faces.boxes)
        if i is None:
            continue
        found += 1
        b, k = faces.boxes[i], faces.keypoints[i]
        # image-left eye, image-right eye, nose, mouth corners left and right: eyes above the nose,
        # the nose above the mouth, left before right
        assert k[0, 0] < k[1, 0] and k[3, 0] < k[4, 0]
        assert max(k[0, 1], k[1, 1]) < k[2, 1] < min(k[3, 1], k[4, 1])
        assert (k[:, 0] > b[0]).all() and (k[:, 0] < b[2]).all()
    assert found >= 19  # the photos are face-centred and face-filling


def test_small_faces_in_a_group_are_found_and_a_blank_image_has_none(detector, face_refs, rng):
    """Faces of 24–64 px pasted into 640×480: the fine level (a 24-px face at 32 model px) finds them."""
    total = hits = 0
    for _ in range(3):
        k = 6
        sel = rng.choice(len(face_refs), k, replace=False)
        m = compose([face_refs[j][0] for j in sel], [face_refs[j][1] for j in sel],
                    list(rng.integers(24, 64, size=k)), (640, 480), rng)
        assigned, _ = match(m.boxes, detector.process(m.image, Faces.empty()).boxes)
        total += k
        hits += int((assigned >= 0).sum())
    assert hits / total >= 0.85
    assert len(detector.process(np.full((480, 640, 3), 127, np.uint8), Faces.empty())) == 0


def test_levels_follow_min_face_and_the_cap(detector):
    assert detector.scales(640, 480) == [pytest.approx(32 / 24), pytest.approx(224 / 480)]  # a fine and a coarse level
    assert detector.scales(200, 150) == [pytest.approx(32 / 24)]  # a whole-image face stays under 300 model px
    assert not detector.is_capped(1920, 1080)
    assert detector.is_capped(4032, 3024)
    assert detector.level_cap(1920, 1080) == detector.level_cap(2000, 2000) == 4_000_000
    fine = detector.scales(4032, 3024)[0]
    assert 4032 * 3024 * fine**2 == pytest.approx(2_000_000)  # a very large photo: faces of ≥ ~79 px
    assert 32 / fine < 24 / 640 * 4032  # still finer than what its 640-px copy finds
    notes: list[str] = []
    detector.process(np.full((3024, 4032, 3), 127, np.uint8), Faces.empty(), notes)
    assert any("capped" in n for n in notes)
    with pytest.raises(ValueError, match="min_face"):
        YuNetDetector(min_face=2)
    with pytest.raises(ValueError, match="model_min"):
        YuNetDetector(model_min=200)


def test_a_large_face_is_found_by_the_coarse_level(detector):
    """The astronaut's face enlarged to ~400 px in a 900-px image: ~530 model px at the fine level,
    beyond the model's ~300, where it scores 0.73; the coarse level finds it surely."""
    from PIL import Image

    image = np.asarray(Image.open(demo_image()).convert("RGB").crop((128, 20, 328, 220)).resize((900, 900)))
    faces = detector.process(image, Faces.empty())
    assert len(faces) == 1 and faces.boxes[0, 2] - faces.boxes[0, 0] > 350 and faces.scores[0] > 0.9
    with YuNetDetector(coarse_side=100_000) as fine_only:
        assert len(fine_only.scales(900, 900)) == 1
        assert fine_only.process(image, Faces.empty()).scores.max() < 0.8


def test_one_detector_shared_by_threads_gives_each_the_same_faces(detector):
    images = [load_image(p) for p in lfw_paths("surprise", 4)]
    expected = [detector.process(i, Faces.empty()).boxes for i in images]
    got: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        got[k] = [detector.process(i, Faces.empty()).boxes for i in images]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        for a, b in zip(got[k], expected):
            np.testing.assert_allclose(a, b)
