import numpy as np
import pytest

from ferx.facs import AU_BY_NUMBER
from ferx.heatmaps import au_regions, expression_heatmap, heatmap_grid
from tests.conftest import lfw_paths


@pytest.fixture(scope="module")
def happy_face(analyzer):
    from ferx import load_image

    path = lfw_paths("happiness", 1)[0]
    img = load_image(path)
    faces = analyzer.analyze(img).faces
    return img, faces.landmarks[0]


def _mass_near(m, pts, radius):
    ys, xs = np.mgrid[0 : m.shape[0], 0 : m.shape[1]] + 0.5
    near = np.zeros(m.shape, bool)
    for x, y in pts:
        near |= (xs - x) ** 2 + (ys - y) ** 2 <= radius**2
    return m[near].sum() / m.sum()


def test_happiness_map_sits_on_mouth_corners_and_cheeks(happy_face):
    img, lm = happy_face
    m = expression_heatmap(lm, "happiness", img.shape[:2])
    assert m.min() == 0 and m.max() == pytest.approx(1)
    eye_dist = np.linalg.norm(lm[33, :2] - lm[263, :2])
    corners = lm[list(AU_BY_NUMBER[12].landmarks), :2]
    cheeks = lm[list(AU_BY_NUMBER[6].landmarks), :2]
    mouth_and_cheeks = _mass_near(m, np.vstack([corners, cheeks, lm[[13, 14], :2]]), 0.45 * eye_dist)
    assert mouth_and_cheeks > 0.9
    brows = lm[[105, 334, 107, 336], :2]
    assert _mass_near(m, brows, 0.15 * eye_dist) < 0.02  # nothing on the brows for a smile


def test_surprise_covers_brows_and_mouth(happy_face):
    img, lm = happy_face
    m = expression_heatmap(lm, "surprise", img.shape[:2])
    eye_dist = np.linalg.norm(lm[33, :2] - lm[263, :2])
    assert _mass_near(m, lm[[105, 334, 107, 336], :2], 0.3 * eye_dist) > 0.15
    assert _mass_near(m, lm[[13, 14], :2], 0.6 * eye_dist) > 0.15


def test_neutral_and_missing_landmarks_give_no_map(happy_face):
    img, lm = happy_face
    assert expression_heatmap(lm, "neutral", img.shape[:2]) is None
    assert expression_heatmap(np.full_like(lm, np.nan), "happiness", img.shape[:2]) is None


def test_flipping_landmarks_flips_the_map(happy_face):
    img, lm = happy_face
    w = img.shape[1]
    flipped = lm.copy()
    flipped[:, 0] = w - lm[:, 0]
    a = au_regions(lm, (12,), img.shape[:2])
    b = au_regions(flipped, (12,), img.shape[:2])
    assert np.abs(a[:, ::-1] - b).mean() < 0.02


def test_grid_renders(happy_face):
    img, lm = happy_face
    grid = heatmap_grid([img, img], [expression_heatmap(lm, "happiness", img.shape[:2]), None], ["a", "b"], cell=64, columns=2)
    assert grid.size == (128, 78)
