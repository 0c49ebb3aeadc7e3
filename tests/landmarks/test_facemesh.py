import math

import numpy as np
import pytest

from ferx import Analyzer, load_image
from ferx.landmarks.facemesh import FaceMeshLandmarker
from ferx.landmarks.geometry import canonical_face, euler_from_rotation, head_pose
from tests.conftest import lfw_paths


def _rot(axis: str, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return {
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def _render(rotation: np.ndarray) -> np.ndarray:
    """The canonical face rotated in the camera frame, drawn in image pixels (y down, z away)."""
    verts, _, _ = canonical_face()
    img = (verts @ rotation.T) * np.array([1, -1, -1]) * 10 + np.array([200, 200, 0])
    lm = np.zeros((1, 478, 3))
    lm[0, :468] = img
    return lm


def test_canonical_face_parses():
    verts, ids, weights = canonical_face()
    assert verts.shape == (468, 3)
    assert len(ids) == len(weights) > 10 and ids.max() < 468 and (weights > 0).all()
    assert np.isfinite(verts).all() and verts[:, 2].max() > 3  # the nose sticks out towards +z


@pytest.mark.parametrize(
    "axis, sign_check",
    [
        ("y", lambda lm: lm[0, 1, 0] > lm[0, :468, 0].mean()),  # yaw>0: nose towards image right
        ("x", lambda lm: lm[0, 1, 1] < lm[0, :468, 1].mean() + 4),  # pitch>0: face tilts up
        ("z", lambda lm: lm[0, 10, 0] > lm[0, 152, 0]),  # roll>0: forehead right of chin (clockwise)
    ],
)
def test_head_pose_signs_on_a_rotated_canonical_face(axis, sign_check):
    # rotations that make the reported angle +20 under ferx's conventions
    rotation = {"y": _rot("y", 20), "x": _rot("x", -20), "z": _rot("z", -20)}[axis]
    lm = _render(rotation)
    pose = head_pose(lm)[0]
    expected = {"y": [20, 0, 0], "x": [0, 20, 0], "z": [0, 0, 20]}[axis]
    np.testing.assert_allclose(pose, expected, atol=0.5)
    assert sign_check(lm)


def test_euler_of_identity_is_zero():
    np.testing.assert_allclose(euler_from_rotation(np.eye(3)), [0, 0, 0], atol=1e-6)


@pytest.fixture(scope="module")
def photos():
    return [load_image(p) for p in lfw_paths("neutral", 6) + lfw_paths("happiness", 6)]


def test_landmarks_lie_in_the_face_box(analyzer, photos):
    for img in photos:
        faces = analyzer.analyze(img).faces
        assert len(faces) >= 1
        b = faces.boxes[0]
        lm = faces.landmarks[0]
        pad = 0.25 * (b[2] - b[0])
        inside = (lm[:, 0] > b[0] - pad) & (lm[:, 0] < b[2] + pad) & (lm[:, 1] > b[1] - pad) & (lm[:, 1] < b[3] + pad)
        assert inside.mean() > 0.95
        assert ((faces.blendshapes >= 0) & (faces.blendshapes <= 1)).all()
        # keypoints come from the mesh: eyes above the mouth, image-left before image-right
        k = faces.keypoints[0]
        assert k[0, 0] < k[1, 0] and k[3, 0] < k[4, 0] and k[:2, 1].mean() < k[3:, 1].mean()


def test_mirroring_a_face_flips_yaw_and_roll(analyzer, photos):
    checked = 0
    for img in photos:
        a = analyzer.analyze(img).faces
        b = analyzer.analyze(np.ascontiguousarray(img[:, ::-1])).faces
        if len(a) != 1 or len(b) != 1 or abs(a.head_pose[0, 0]) < 5:
            continue
        yaw_a, pitch_a, roll_a = a.head_pose[0]
        yaw_b, pitch_b, roll_b = b.head_pose[0]
        assert np.sign(yaw_a) == -np.sign(yaw_b) and abs(yaw_a + yaw_b) < 6
        assert abs(pitch_a - pitch_b) < 6
        assert abs(roll_a + roll_b) < 6
        checked += 1
    assert checked >= 3


@pytest.fixture(scope="module")
def tasks_analyzer():
    pytest.importorskip("mediapipe")
    with Analyzer(landmarker={"name": "mediapipe-tasks"}) as a:
        yield a


def test_fast_landmarker_agrees_with_mediapipe_tasks(analyzer, tasks_analyzer, photos):
    """ferx's batched LiteRT path against MediaPipe's own FaceLandmarker graph."""
    errors, blend_diffs, pose_diffs = [], [], []
    for img in photos:
        a, b = analyzer.analyze(img).faces, tasks_analyzer.analyze(img).faces
        if len(a) != 1 or len(b) != 1:
            continue
        scale = np.linalg.norm(a.landmarks[0, 33, :2] - a.landmarks[0, 263, :2])
        errors.append(np.linalg.norm(a.landmarks[0, :, :2] - b.landmarks[0, :, :2], axis=1).mean() / scale)
        blend_diffs.append(np.abs(a.blendshapes - b.blendshapes).mean())
        pose_diffs.append(np.abs(a.head_pose - b.head_pose).max())
    assert len(errors) >= 10
    assert np.mean(errors) < 0.03  # 3 % of the eye-corner distance
    assert np.mean(blend_diffs) < 0.05
    assert np.median(pose_diffs) < 5


def test_blendshape_runner_reproduces_mediapipe_from_its_own_landmarks(photos):
    """Feeding MediaPipe's landmarks to ferx's blendshape call gives MediaPipe's blendshapes:
    checks the 146-point subset and the pixel-coordinate input convention."""
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision

    from ferx.assets import face_landmarker_path

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(face_landmarker_path())), output_face_blendshapes=True
    )
    landmarker = vision.FaceLandmarker.create_from_options(options)
    fast = FaceMeshLandmarker()
    try:
        for img in photos[:4]:
            res = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=img))
            h, w = img.shape[:2]
            lm = np.array([[(p.x * w, p.y * h, p.z * w) for p in res.face_landmarks[0]]], np.float32)
            ours = fast.blendshapes(lm)[0]
            theirs = np.array([c.score for c in res.face_blendshapes[0]])
            np.testing.assert_allclose(ours, theirs, atol=2e-3)
    finally:
        landmarker.close()
        fast.close()


def test_faces_go_to_the_mesh_model_in_a_few_fixed_batch_sizes():
    from ferx.landmarks.facemesh import batches

    assert batches(13, 16) == [(0, 8), (8, 4), (12, 1)]
    assert batches(40, 16) == [(0, 16), (16, 16), (32, 8)]
    assert batches(0, 16) == []
    sizes = {size for n in range(1, 100) for _, size in batches(n, 16)}
    assert sizes == {1, 2, 4, 8, 16}
    for n in range(1, 60):
        parts = batches(n, 16)
        assert sum(size for _, size in parts) == n and [start for start, _ in parts] == \
            list(np.cumsum([0] + [size for _, size in parts])[:-1])
