"""Mosaic generator: boxes match the pasted faces, splits are identity-disjoint, seeds reproduce."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferx.train.onepass.data.mosaics import (FacePool, MosaicConfig, face_refs, generate_split, make_mosaic,
                                             make_photo, make_scene)
from ferx.train.onepass.data.negatives import negative_pool
from tests.conftest import LFW, SHARED

FERPLUS = SHARED / "ferplus"


def _fake_cache():
    """A box cache where every lfw photo has one centred face box (the real one comes from the pipeline)."""
    if not (LFW / "labels.csv").exists() or not FERPLUS.exists():
        pytest.skip("shared data not found")
    with open(LFW / "labels.csv") as f:
        lfw = {r["image"]: {"boxes": [[100.0, 90.0, 250.0, 260.0]]} for r in csv.DictReader(f)}
    return {"lfw": lfw, "ferplus_box": [6.0, 8.0, 42.0, 46.0],
            "keypoint_template": [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]}


def _ncc(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b) + 1e-9))


def test_boxes_match_the_pasted_faces():
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), lfw_share=0.5, face_min=40, face_max=90)
    lfw, fer = face_refs(cfg, "test", cache)
    rng = np.random.default_rng(3)
    img, boxes, placed = make_mosaic(lfw, fer, cfg, 320, 6, rng, {})
    assert len(placed) == len(boxes) >= 3
    scores = []
    for box, ref in zip(boxes, placed):
        src = np.asarray(Image.open(ref.path).convert("L"), np.float32)
        x1, y1, x2, y2 = ref.box
        face = src[int(y1):int(y2), int(x1):int(x2)]
        bx1, by1, bx2, by2 = np.round(box).astype(int)
        cut = np.asarray(Image.fromarray(img[by1:by2, bx1:bx2]).resize(face.shape[::-1], Image.BILINEAR), np.float32)
        scores.append(_ncc(cut, face))
        # a box shifted by a quarter of its side no longer matches
        dx = (bx2 - bx1) // 4
        shifted = img[by1:by2, max(bx1 - dx, 0):bx2 - dx]
        shifted = np.asarray(Image.fromarray(shifted).resize(face.shape[::-1], Image.BILINEAR), np.float32)
        assert _ncc(shifted, face) < scores[-1]
    assert min(scores) > 0.9, scores  # contrast jitter and resampling only


def test_splits_are_identity_disjoint_and_ferplus_uses_its_folders():
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS))
    ids = {}
    for split in ("train", "val", "test"):
        lfw, fer = face_refs(cfg, split, cache)
        ids[split] = {r.identity for r in lfw}
        folder = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}[split]
        assert fer and all(f"/{folder}/" in r.path for r in fer)
        assert lfw
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["val"] and not ids["val"] & ids["test"]


def test_generation_is_seeded_and_has_a_manifest():
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), size=128, face_min=16, face_max=48, faces_max=4,
                       val_images=3)
    a = generate_split(cfg, "val", cache, progress=False)
    b = generate_split(cfg, "val", cache, progress=False)
    assert np.array_equal(a.images, b.images) and a.manifest == b.manifest
    c = generate_split(MosaicConfig(**{**cfg.__dict__, "seed": 1}), "val", cache, progress=False)
    assert not np.array_equal(a.images, c.images)
    assert cfg.key() != MosaicConfig(**{**cfg.__dict__, "seed": 1}).key()
    rows = a.manifest["faces"]
    assert len(rows) == sum(len(x) for x in a.boxes)
    assert {r[6] for r in rows} <= {"lfw-expressions", "ferplus"}
    assert a.images.shape == (3, 128, 128) and a.images.dtype == np.uint8


def test_val_like_test_split_has_validation_faces_on_test_shaped_canvases():
    """The split for choosing inference settings: validation identities and FER+ Valid, test canvases."""
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), size=128, test_size=192, face_min=16, face_max=48,
                       faces_min=4, faces_max=4, test_faces_max=6, val_images=2, test_images=3)
    v = generate_split(cfg, "val-like-test", cache, progress=False)
    t = generate_split(cfg, "test", cache, progress=False)
    assert v.images.shape == t.images.shape == (3, 192, 192)
    assert not np.array_equal(v.images, t.images)  # its own seed stream
    assert v.manifest["split"] == "val-like-test" and v.manifest["faces_from"] == "val"
    val_lfw, val_fer = face_refs(cfg, "val", cache)
    rows = v.manifest["faces"]
    lfw_ids = {r[8] for r in rows if r[6] == "lfw-expressions"}
    fer_files = {r[7] for r in rows if r[6] == "ferplus"}
    assert lfw_ids and lfw_ids <= {r.identity for r in val_lfw}
    assert fer_files and fer_files <= {Path(r.path).name for r in val_fer}
    test_lfw, _ = face_refs(cfg, "test", cache)
    assert not lfw_ids & {r.identity for r in test_lfw}
    with pytest.raises(ValueError, match="unknown mosaic split"):
        generate_split(cfg, "valid", cache, progress=False)


def test_bad_sizes_raise():
    cache = _fake_cache()
    with pytest.raises(ValueError, match="multiple of 32"):
        generate_split(MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), size=100), "val", cache, progress=False)
    with pytest.raises(ValueError, match="does not fit"):
        generate_split(MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), size=128, face_max=160), "val", cache,
                       progress=False)



NEGATIVES = ["brick", "coffee", "text", "rocket"]


def test_scene_boxes_match_the_photo_faces_and_faces_are_never_cut():
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), face_min=30, face_max=100, grid_max=2,
                       negative_share=0.0, scene_share=1.0, negatives=NEGATIVES)
    lfw, _ = face_refs(cfg, "test", cache)
    rng = np.random.default_rng(5)
    negatives = negative_pool(NEGATIVES)
    checked = 0
    for _ in range(4):
        img, boxes, placed = make_scene(lfw, cfg, 320, rng, {}, negatives)
        assert len(boxes) == len(placed)
        for box, ref in zip(boxes, placed):
            x1, y1, x2, y2 = ref.box
            # the whole face is inside the canvas: the box keeps the source box's aspect ratio
            assert abs((box[2] - box[0]) / (box[3] - box[1]) - (x2 - x1) / (y2 - y1)) < 0.05
            src = np.asarray(Image.open(ref.path).convert("L"), np.float32)
            face = src[int(y1):int(y2), int(x1):int(x2)]
            bx1, by1, bx2, by2 = np.round(box).astype(int)
            cut = np.asarray(Image.fromarray(img[by1:by2, bx1:bx2]).resize(face.shape[::-1], Image.BILINEAR),
                             np.float32)
            assert max(_ncc(cut, face), _ncc(cut, face[:, ::-1])) > 0.9  # photos may be mirrored
            checked += 1
    assert checked >= 4


def test_negative_scene_cells_hold_no_faces_but_real_texture():
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), negative_share=1.0, scene_share=1.0,
                       negatives=NEGATIVES)
    lfw, _ = face_refs(cfg, "test", cache)
    img, boxes, placed = make_scene(lfw, cfg, 256, np.random.default_rng(0), {}, negative_pool(NEGATIVES))
    assert len(boxes) == 0 and not placed
    assert img.std() > 20  # photographs, not the smooth synthetic field


def test_negative_pool_refuses_people_and_unknown_names():
    pytest.importorskip("skimage")
    with pytest.raises(ValueError, match="shows a person"):
        negative_pool(["astronaut"])
    with pytest.raises(ValueError, match="no image 'selfie'"):
        negative_pool(["selfie"])
    pool = negative_pool(["coffee", "horse"])
    assert [p.ndim for p in pool] == [2, 2] and all(p.dtype == np.uint8 for p in pool)


def test_options_that_are_off_keep_older_cache_keys():
    base = MosaicConfig()
    assert base.key() == MosaicConfig(grid_max=2, negative_share=0.9).key()  # inert while scenes are off
    assert base.key() != MosaicConfig(scene_share=0.5).key()
    assert MosaicConfig(scene_share=0.5).key() != MosaicConfig(scene_share=0.5, grid_max=2).key()


def test_data_command_takes_paths_relative_to_the_config_file(tmp_path, monkeypatch, capsys):
    """`python -m ferx.train.onepass.data generate CONFIG` from another folder: the data, box cache and mosaic
    folders of the config are found next to the config file, not in the working folder."""
    import json
    import os

    import yaml

    from ferx.train.onepass.data.__main__ import main

    (tmp_path / "boxes.json").write_text(json.dumps(_fake_cache()))
    config = tmp_path / "project" / "tiny.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"data": {
        "lfw": os.path.relpath(LFW, config.parent), "ferplus": os.path.relpath(FERPLUS, config.parent),
        "box_cache": "../boxes.json", "cache_dir": "mosaics", "size": 128, "face_min": 16, "face_max": 48,
        "faces_max": 3, "val_images": 2}}))
    monkeypatch.chdir(tmp_path)
    assert main(["generate", str(config), "--splits", "val"]) == 0
    written = list((config.parent / "mosaics").glob("mosaics-*/val/manifest.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())["images"] == 2
    assert main(["boxes"]) == 2  # no config and no folders: a usage error, not a default path
    assert "give a training CONFIG" in capsys.readouterr().err


def test_the_shipped_recipe_keeps_its_mosaic_folder():
    """Issue 26's options are off in configs/onepass-csp.yaml, so its mosaics keep the folder (and, by
    the same random stream, the images) they had when the shipped model was trained and measured."""
    from ferx.train.onepass.train import DetectorTrainConfig
    from ferx.train.runconfig import load_config

    cfg = load_config(DetectorTrainConfig, Path(__file__).parents[3] / "configs" / "onepass-csp.yaml")
    assert cfg.data.key() == "f7a4f4c28562"
    assert MosaicConfig().key() == MosaicConfig(photo_face_min=100, photo_face_max=200).key()  # inert while off
    assert MosaicConfig().key() != MosaicConfig(balance=0.5).key() != MosaicConfig(photo_share=0.3).key()


def _label_shares(pool, draws=6000):
    rng = np.random.default_rng(0)
    counts = np.bincount([pool.draw(rng).label for _ in range(draws)], minlength=8)
    return counts / draws


def test_balanced_drawing_evens_out_the_labels():
    """FER+ Valid is 37 % neutral and 0.5 % contempt; balance 1 draws each label about equally, 0.5
    in proportion to √count, 0 as the pool holds them."""
    cache = _fake_cache()
    _, fer = face_refs(MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS)), "val", cache)
    counts = np.bincount([r.label for r in fer], minlength=8)
    assert counts.min() >= 10
    natural = _label_shares(FacePool(fer))
    np.testing.assert_allclose(natural, counts / counts.sum(), atol=0.02)
    even = _label_shares(FacePool(fer, counts, 1.0))
    np.testing.assert_allclose(even, np.full(8, 1 / 8), atol=0.02)
    root = _label_shares(FacePool(fer, counts, 0.5))
    np.testing.assert_allclose(root, np.sqrt(counts) / np.sqrt(counts).sum(), atol=0.02)


def _face_matches(img, box, ref):
    src = np.asarray(Image.open(ref.path).convert("L"), np.float32)
    x1, y1, x2, y2 = ref.box
    face = src[int(y1):int(y2), int(x1):int(x2)]
    bx1, by1, bx2, by2 = np.round(box).astype(int)
    cut = np.asarray(Image.fromarray(img[by1:by2, bx1:bx2]).resize(face.shape[::-1], Image.BILINEAR), np.float32)
    return max(_ncc(cut, face), _ncc(cut, face[:, ::-1]))  # photos may be mirrored


def test_photo_canvases_hold_one_close_up_as_the_stage_shows_a_photo():
    """A photo canvas: one whole photo whose face is 64 px to nearly the canvas wide; the letterboxed
    ones sit top-left on the stage's padding grey; the box is the face's, wherever the photo lands."""
    from ferx.detect.onepass_decode import PAD_VALUE

    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), photo_share=1.0, negatives=NEGATIVES)
    lfw, fer = face_refs(cfg, "test", cache)
    rng = np.random.default_rng(1)
    widths, letterboxed = [], 0
    for _ in range(30):
        img, boxes, placed = make_photo(FacePool(lfw), FacePool(fer), cfg, 320, rng, {}, negative_pool(NEGATIVES))
        assert boxes.shape == (1, 4) and len(placed) == 1 and placed[0].source == "lfw-expressions"
        assert _face_matches(img, boxes[0], placed[0]) > 0.9
        widths.append(boxes[0, 2] - boxes[0, 0])
        if (img[-8:, :] == PAD_VALUE).all() and (img[:, -8:] == PAD_VALUE).all() and img[0, 0] != PAD_VALUE:
            letterboxed += 1
    assert 64 * 0.95 <= min(widths) and max(widths) <= 0.98 * 320 + 1 and max(widths) > 200
    assert letterboxed >= 3  # (a photo larger than the canvas is cropped: no grey shows)


def test_ferplus_faces_are_enlarged_into_scenes_with_their_own_frame():
    """fer_upscale_share 1: every scene cell's face is a FER+ image enlarged (here to 60–120 px), its box
    the FER+ frame's face box scaled with it."""
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), face_min=60, face_max=120, grid_max=2,
                       negative_share=0.0, scene_share=1.0, fer_upscale_share=1.0, negatives=NEGATIVES)
    lfw, fer = face_refs(cfg, "test", cache)
    rng = np.random.default_rng(2)
    placed_all = 0
    for _ in range(3):
        img, boxes, placed = make_scene(FacePool(lfw), cfg, 320, rng, {}, negative_pool(NEGATIVES), FacePool(fer))
        for box, ref in zip(boxes, placed):
            assert ref.source == "ferplus" and box[2] - box[0] >= 0.9 * 60
            assert _face_matches(img, box, ref) > 0.9
            placed_all += 1
    assert placed_all >= 3
