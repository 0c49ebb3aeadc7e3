"""The measures AUs are read from: the canonical face frame and its geometry, on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from ferx.aus.measures import CANDIDATES, GEOMETRY, SHAPES, measure_matrix, parse, to_canonical
from ferx.facs import AU_NUMBERS
from ferx.canonical import canonical_face
from tests.conftest import lfw_paths


@pytest.fixture(scope="module")
def face(analyzer):
    faces = analyzer.analyze(lfw_paths("neutral", 1)[0]).faces
    return faces.landmarks[:1].copy(), faces.blendshapes[:1].copy()


def _similarity(lm: np.ndarray, scale: float, angle: float, shift: tuple[float, float]) -> np.ndarray:
    """The landmarks rotated in the image plane, scaled and moved (z scaled like x and y)."""
    c, s = np.cos(angle), np.sin(angle)
    out = lm.copy()
    out[..., 0] = scale * (c * lm[..., 0] - s * lm[..., 1]) + shift[0]
    out[..., 1] = scale * (s * lm[..., 0] + c * lm[..., 1]) + shift[1]
    out[..., 2] = scale * lm[..., 2]
    return out


def test_canonical_frame_removes_size_position_and_roll(face):
    lm, _ = face
    base = to_canonical(lm)
    moved = to_canonical(_similarity(lm, 2.7, 0.4, (300.0, -50.0)))
    np.testing.assert_allclose(moved, base, atol=1e-3)  # cm; a face is ~15 cm tall
    # and it is the canonical face's frame: the fitted points lie near the canonical mesh
    verts, ids, _ = canonical_face()
    assert np.median(np.linalg.norm(base[0, ids] - verts[ids], axis=1)) < 1.0
    # a NaN face (not confirmed by the landmarker) stays NaN and does not disturb the others
    both = to_canonical(np.concatenate([lm, np.full_like(lm, np.nan)]))
    assert np.isfinite(both[0]).all() and np.isnan(both[1]).all()
    np.testing.assert_allclose(both[:1], base, atol=1e-5)


def test_geometry_moves_the_right_way_when_the_mesh_is_edited(face):
    lm, bs = face
    names = ["g:inner_brow_height", "-g:inner_brow_height", "g:lips_apart", "g:lip_corner_drop", "bs:mouthSmile"]
    base = measure_matrix(names, lm, bs)[0]
    assert np.isfinite(base).all() and base[0] == -base[1]
    eye = np.linalg.norm(lm[0, 33, :2] - lm[0, 263, :2])
    edited = lm.copy()
    edited[0, [107, 336], 1] -= 0.05 * eye  # inner brows up (image y points down)
    edited[0, 14, 1] += 0.1 * eye  # lower inner lip down: lips apart
    edited[0, [61, 291], 1] += 0.05 * eye  # lip corners down
    got = measure_matrix(names, edited, bs)[0]
    assert got[0] > base[0] and got[2] > base[2] + 0.3 and got[3] > base[3]
    assert got[4] == base[4]  # blendshapes are given, not recomputed


def test_every_candidate_names_a_known_measure_of_a_known_au():
    assert set(CANDIDATES) == set(AU_NUMBERS)
    for number, measures in CANDIDATES.items():
        for m in measures:
            sign, kind, name = parse(m)
            assert kind in ("bs", "g", "h") and sign in (1.0, -1.0)
            assert kind != "h" or name == f"AU{number}", (number, m)  # a head only serves its own AU
    assert {parse(m)[2] for ms in CANDIDATES.values() for m in ms if parse(m)[1] == "g"} <= set(GEOMETRY) | set(SHAPES)
    # anatomy: rolled-in lips are AU28 and never read as lip tightening or pressing
    assert not any("mouthRoll" in m for m in CANDIDATES[23] + CANDIDATES[24])
    for bad in ("g:nowhere", "bs:noSuchShape", "h:12", "x:mouth_width"):
        with pytest.raises(ValueError):
            parse(bad)


def test_head_measures_need_head_outputs(face):
    lm, bs = face
    with pytest.raises(ValueError, match="image head"):
        measure_matrix(["h:AU4"], lm, bs)
    got = measure_matrix(["h:AU4"], lm, bs, {"AU4": np.array([0.5])})
    assert got[0, 0] == pytest.approx(0.0)  # the log-odds of 0.5
