import numpy as np
from PIL import Image

from ferx.facecrop import TEMPLATE, aligned_crop, crop_transform
from tests.conftest import lfw_paths


def _apply(t, pts):
    scale, angle, tx, ty = t
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.stack([c * pts[:, 0] - s * pts[:, 1] + tx, s * pts[:, 0] + c * pts[:, 1] + ty], 1)


def test_eye_corners_land_on_the_template_for_any_rotation_and_scale():
    lm = np.zeros((478, 3), np.float32)
    for angle in (-30, 0, 15):
        for dist in (20, 100, 400):
            a = np.radians(angle)
            lm[33, :2] = [300, 200]
            lm[263, :2] = [300 + dist * np.cos(a), 200 + dist * np.sin(a)]
            np.testing.assert_allclose(_apply(crop_transform(lm), lm[[33, 263], :2]), TEMPLATE, atol=1e-3)


def test_real_face_crop_matches_the_template(analyzer):
    path = lfw_paths("neutral", 1, offset=2)[0]
    faces = analyzer.analyze(path).faces
    grey = Image.open(path).convert("L")
    crop = aligned_crop(grey, faces.landmarks[0])
    assert crop.shape == (48, 48) and crop.dtype == np.uint8 and crop.std() > 10
    # mesh the crop itself: its eye corners must sit near the template
    again = analyzer.analyze(np.asarray(Image.fromarray(crop).resize((192, 192)))).faces
    if len(again):  # the mesh model does not always accept a 48-px face scaled up
        corners = again.landmarks[0, [33, 263], :2] / 4
        assert np.abs(corners - TEMPLATE).max() < 3.0
