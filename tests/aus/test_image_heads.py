"""Image-reading AU heads: the FACS-prior targets, the region restriction of each head on a real face,
the ONNX export against PyTorch, and the onnxruntime runner on real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ferx import facs
from ferx.aus.heads import (
    BASE_RATE,
    CUT,
    GRID,
    HEAD_AUS,
    HEAD_CODES,
    PRIOR_TOP,
    SIGMA,
    au_given_expression,
    au_targets,
    crop_points,
    region_masks,
    region_points,
)
from ferx.facecrop import aligned_crop
from tests.conftest import lfw_paths


def _one_hot(label: str) -> np.ndarray:
    v = np.zeros((1, len(facs.EXPRESSIONS)), np.float32)
    v[0, facs.EXPRESSIONS.index(label)] = 1
    return v


def test_targets_follow_the_facs_prior_and_the_vote_distribution():
    p = au_given_expression()
    j = {n: i for i, n in enumerate(HEAD_AUS)}
    # every head AU is in some prototype; defining AUs get the top prior, neutral only the base rate
    assert set(HEAD_AUS) == {n for pr in facs.EMOTION_PROTOTYPES.values() for n in pr.supports}
    np.testing.assert_allclose(au_targets(_one_hot("neutral")), BASE_RATE)
    happy = au_targets(_one_hot("happiness"))[0]
    assert happy[j[12]] == pytest.approx(PRIOR_TOP) and happy[j[15]] == pytest.approx(BASE_RATE)
    assert p[facs.EXPRESSIONS.index("surprise"), j[26]] > p[facs.EXPRESSIONS.index("surprise"), j[25]]
    # 70 % happy / 30 % sad votes: a mixture of the two rows (votes need not be normalised)
    mix = au_targets(np.array([[0, 7, 0, 3, 0, 0, 0, 0]], np.float32))[0]
    np.testing.assert_allclose(mix, 0.7 * p[1] + 0.3 * p[3], rtol=1e-6)


@pytest.fixture(scope="module")
def real_face():
    """A real lfw happy face: its aligned crop and crop-frame landmarks (mesh from the analyzer)."""
    from ferx import Analyzer, load_image

    path = lfw_paths("happiness", 1)[0]
    with Analyzer(aus=None, explain=None, expression=None) as a:
        faces = a.analyze(path).faces
    lm = faces.landmarks[0]
    crop = aligned_crop(Image.fromarray(load_image(path)).convert("L"), lm)
    return crop, crop_points(lm), load_image(path), faces


def test_region_masks_sit_on_their_landmarks(real_face):
    _, pts, _, _ = real_face
    masks = region_masks(pts)[0]
    assert masks.shape == (len(HEAD_AUS), GRID, GRID) and masks.max() <= 1
    cell = 48 / GRID
    for k, n in enumerate(HEAD_AUS):
        y, x = np.unravel_index(masks[k].argmax(), masks[k].shape)
        centre = np.array([(x + 0.5) * cell, (y + 0.5) * cell])
        assert np.linalg.norm(pts[list(region_points(n))] - centre, axis=1).min() < cell, f"AU{n}"
    brow, mouth = masks[HEAD_AUS.index(1)], masks[HEAD_AUS.index(12)]
    assert (brow * mouth).sum() == 0  # brow and lip-corner regions do not overlap


def test_each_head_depends_only_on_pixels_near_its_region(real_face):
    """The gradient of an AU's logit w.r.t. the input is exactly zero beyond its mask's reach (CUT·σ)
    plus the trunk's 13-px square receptive field (pixels 4r−6 … 4r+6 for grid cell r, whose mask value is
    taken at 4r+2: up to 7.5 px per axis; ≈ 18 px, 0.72 eye distances, from its landmarks):
    the head cannot read the whole face."""
    torch = pytest.importorskip("torch")
    from ferx.train.aus import AUHeadNet
    from ferx.train.harness import normalise

    crop, pts, _, _ = real_face
    torch.manual_seed(0)
    model = AUHeadNet().eval()
    x = normalise(torch.from_numpy(crop[None, None].copy())).requires_grad_(True)
    m = torch.from_numpy(region_masks(pts))
    logits = model(x, m)
    reach = CUT * SIGMA * float(np.hypot(*(pts[263] - pts[33]))) + 7.5 * np.sqrt(2)
    assert reach < 18.5
    ys, xs = np.mgrid[0:48, 0:48] + 0.5
    for k, n in enumerate(HEAD_AUS):
        (g,) = torch.autograd.grad(logits[0, k], x, retain_graph=True)
        seen = g[0, 0].abs().numpy() > 0
        assert seen.any(), f"AU{n}"
        p = pts[list(region_points(n))]
        dist = np.min(np.hypot(xs[..., None] - p[:, 0], ys[..., None] - p[:, 1]), axis=-1)
        assert dist[seen].max() <= reach, f"AU{n} reads pixels {dist[seen].max():.1f} px from its region"
    # concretely: the lip-corner head does not see the eyes, the inner-brow head not the mouth
    (g12,) = torch.autograd.grad(logits[0, HEAD_AUS.index(12)], x, retain_graph=True)
    (g1,) = torch.autograd.grad(logits[0, HEAD_AUS.index(1)], x)
    eye_y = int(pts[[33, 263], 1].mean())
    mouth_y = int(pts[[13, 14], 1].mean())
    assert not g12[0, 0, : eye_y].abs().sum() and not g1[0, 0, mouth_y:].abs().sum()


def test_onnx_export_matches_pytorch(tmp_path, real_face):
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from ferx.train.aus import AUHeadNet, write_onnx
    from ferx.train.harness import normalise

    crop, pts, _, _ = real_face
    torch.manual_seed(1)
    model = AUHeadNet().eval()
    path = write_onnx(model, tmp_path / "m.onnx")
    x = np.concatenate([crop[None, None], crop[None, None, :, ::-1]]).copy()
    m = np.concatenate([region_masks(pts)] * 2)
    with torch.no_grad():
        ref = torch.sigmoid(model(normalise(torch.from_numpy(x)), torch.from_numpy(m))).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["probs"], {"image": x.astype(np.float32) / 127.5 - 1, "masks": m})[0]
    assert got.shape == (2, len(HEAD_AUS)) and np.abs(ref - got).max() < 1e-5


def _untrained_model(tmp_path):
    """An exported (untrained) head model with its sidecar."""
    torch = pytest.importorskip("torch")
    from ferx.train.aus import AUHeadNet, sidecar, write_onnx

    torch.manual_seed(2)
    model = AUHeadNet().eval()
    path = write_onnx(model, tmp_path / "au-test.onnx")
    path.with_suffix(".json").write_text(json.dumps(sidecar(model, path)))
    return model, path


def test_the_runner_gives_the_network_s_probabilities_and_checks_the_file(tmp_path, real_face):
    pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    from ferx.aus.image_heads import ImageHeads
    from ferx.train.harness import normalise

    crop, pts, image, faces = real_face
    model, path = _untrained_model(tmp_path)
    heads = ImageHeads(str(path))
    got = heads.probabilities(image, faces.landmarks[:1])
    with torch.no_grad():
        ref = torch.sigmoid(model(normalise(torch.from_numpy(crop[None, None].copy())),
                                  torch.from_numpy(region_masks(pts)))).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)  # the same crop and masks as training builds
    assert set(heads.by_code(image, faces.landmarks[:1])) == set(HEAD_CODES)
    # a sidecar that does not match the file is refused
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="sha256"):
        ImageHeads(str(path))


def test_shipped_model_reads_smiles_from_the_image():
    """The shipped model's AU12 head is higher on smiling lfw faces than on neutral ones."""
    pytest.importorskip("onnxruntime")
    from ferx import Analyzer, load_image
    from ferx.aus.image_heads import DEFAULT_MODEL, ImageHeads

    heads = ImageHeads(DEFAULT_MODEL)
    j = HEAD_AUS.index(12)
    level = {}
    with Analyzer(aus=None, explain=None, expression=None) as a:
        for label in ("happiness", "neutral"):
            vals = []
            for path in lfw_paths(label, 12):
                image = load_image(path)
                faces = a.analyze(image).faces
                if len(faces):
                    vals.append(heads.probabilities(image, faces.landmarks[:1])[0, j])
            level[label] = np.mean(vals)
    heads.close()
    assert level["happiness"] > level["neutral"] + 0.2, level
