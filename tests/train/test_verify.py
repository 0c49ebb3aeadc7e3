"""The face verifier's training family: labels of mined boxes, a small real mining run, a tiny
training run through the harness, its ONNX export read by the `face-verifier` stage."""

from __future__ import annotations

import numpy as np
import pytest

from ferx.train.verify.data import KINDS, Examples, label_candidates
from tests.conftest import SHARED

torch = pytest.importorskip("torch")


def test_mined_boxes_are_labelled_by_where_the_true_faces_are():
    truth = np.array([[100, 100, 200, 200]], np.float32)
    boxes = np.array([
        [105, 95, 205, 200],  # the face
        [120, 120, 150, 150],  # an eye: inside, a tenth of the area
        [400, 400, 450, 450],  # away from the face: clutter
        [180, 180, 260, 260],  # half on the face: ambiguous, not used
        [500, 500, 540, 540],  # clutter, but on a pasted crop's margin
    ], np.float32)
    keep_out = np.array([[480, 480, 600, 600]], np.float32)
    assert label_candidates(boxes, truth, keep_out).tolist() == [1, 0, 2, -1, -1]
    assert label_candidates(boxes[2:3], np.zeros((0, 4), np.float32)).tolist() == [2]


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    if not (SHARED / "ferplus").exists() or not (SHARED / "lfw-expressions").exists():
        pytest.skip("needs lfw-expressions and FER+")
    from ferx.train.verify.data import mine

    ex = mine("val", SHARED / "lfw-expressions", SHARED / "ferplus", scale=0.01, progress=False)
    path = tmp_path_factory.mktemp("verify") / "val.npz"
    ex.save(path)
    return path


def test_a_small_mining_run_labels_real_crops(mined):
    ex = Examples.load(mined)
    assert ex.crops.shape[1:] == (48, 48) and ex.crops.dtype == np.uint8 and len(ex) == len(ex.label) == len(ex.side)
    groups = {ex.groups[g] for g in ex.group}
    assert {"lfw", "lfw-eye", "ferplus", "photo"} <= groups
    by_group = {name: ex.label[ex.group == g] for g, name in enumerate(ex.groups)}
    assert by_group["lfw-eye"].max() == 0 and by_group["photo"].max() == 0 and by_group["ferplus"].min() == 1
    assert (by_group["lfw"] == 1).sum() >= 1  # each lfw photo's own face
    assert set(ex.kind.tolist()) <= set(range(len(KINDS)))
    # faces mined from lfw are centred in the crop as the classifier's template puts them: bright skin
    # in the middle rows, not the black outside an image
    faces = ex.crops[ex.label == 1].astype(np.float32)
    assert faces[:, 16:40, 12:36].mean() > 40


def test_a_tiny_training_run_exports_a_model_the_stage_reads(mined, tmp_path):
    from ferx.stages import VERIFIERS
    from ferx.train.verify.config import VerifierTrainConfig
    from ferx.train.verify.export import export_verifier
    from ferx.train.verify.task import train

    config = VerifierTrainConfig(train_examples=str(mined), val_examples=str(mined), epochs=2, batch_size=16,
                                 model_options={"widths": [4, 8, 8, 8]}, threads=1)
    run = train(config, tmp_path / "run", progress=False)
    assert (run / "best.pt").exists() and (run / "last.pt").exists()
    path = export_verifier(run, "tiny-verifier", tmp_path / "models")
    ex = Examples.load(mined)
    with VERIFIERS.create("face-verifier", model=str(path)) as stage:
        import json

        meta = json.loads(path.with_suffix(".json").read_text())
        assert stage.threshold == meta["threshold"] and meta["kind"] == "face-verifier"
        p = stage._session.run(["face"], {"image": ex.crops[:8, None].astype(np.float32) / 127.5 - 1})[0]
    assert p.shape == (8,) and ((p >= 0) & (p <= 1)).all()
