import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ferx.data.readers import DatasetError, ferplus_target, identity_split, open_dataset
from ferx.facs import EXPRESSIONS
from tests.conftest import SHARED

FERPLUS = SHARED / "ferplus"


def votes(**kw):
    cols = list(EXPRESSIONS) + ["unknown", "NF"]
    v = np.zeros(10)
    for k, n in kw.items():
        v[cols.index(k)] = n
    return v


def test_ferplus_protocols_on_hand_made_votes():
    # single votes are noise: 6 neutral, 3 anger, 1 sadness → 6 of 9 remaining > half
    t = ferplus_target(votes(neutral=6, anger=3, sadness=1), "majority")
    np.testing.assert_allclose(t, np.eye(8)[0])
    assert ferplus_target(votes(neutral=4, anger=4, sadness=2), "majority") is None  # no majority
    assert ferplus_target(votes(unknown=6, happiness=4), "majority") is None  # top is unknown
    p = ferplus_target(votes(neutral=4, anger=4, sadness=2), "probability")
    np.testing.assert_allclose(p[[0, 4, 3]], [0.5, 0.5, 0.0])  # the tied top two already hold 80 % >= 75 %
    p = ferplus_target(votes(neutral=5, anger=3, sadness=2), "probability")
    np.testing.assert_allclose(p[[0, 4, 3]], [5 / 8, 3 / 8, 0.0])  # 5 < 75 % of 10, 5 + 3 >= 75 %: stop
    p = ferplus_target(votes(neutral=4, anger=3, sadness=3), "probability")
    np.testing.assert_allclose(p[[0, 4, 3]], [0.4, 0.3, 0.3])  # 4 + a tie of 3s: three labels

    m = ferplus_target(votes(happiness=5, surprise=3, fear=2), "multi_target")
    np.testing.assert_allclose(m[[1, 2]], [5 / 8, 3 / 8])  # fear at 20 % is below the 30 % bar
    assert ferplus_target(votes(happiness=1, surprise=1), "probability") is None
    with pytest.raises(DatasetError, match="protocol"):
        ferplus_target(votes(neutral=10), "vote")


def test_ferplus_real_split_sizes():
    if not FERPLUS.exists():
        pytest.skip("no FER+ data")
    train = open_dataset(FERPLUS, "train")
    test = open_dataset(f"ferplus:{FERPLUS}", "test")
    # the majority-protocol sizes papers report for FER+: 25,045 train / 3,137 test
    assert (len(train), len(test)) == (25045, 3137)
    assert test.label_set == EXPRESSIONS and test.counts()["contempt"] > 0
    s = test.samples[0]
    assert s.path.exists() and s.split == "test" and s.soft.shape == (8,) and s.soft.sum() == pytest.approx(1)
    assert sum(test.dropped.values()) == 3573 - 3137
    prob = open_dataset(FERPLUS, "test", protocol="probability")
    assert len(prob) > len(test)  # probability keeps images without a strict majority


def test_fer2013_folder_layout_from_the_shared_script(tmp_path):
    script = SHARED / "fer2013" / "materialize.py"
    if not script.exists():
        pytest.skip("no FER2013 data")
    subprocess.run([sys.executable, str(script), str(tmp_path), "--link"], check=True, capture_output=True)
    sizes = {sp: len(open_dataset(tmp_path, sp)) for sp in ("train", "public_test", "private_test")}
    assert sizes == {"train": 28709, "public_test": 3589, "private_test": 3589}
    d = open_dataset(tmp_path, "test")
    assert "contempt" not in d.label_set and len(d.label_set) == 7
    assert d.counts()["happiness"] > 0 and all(s.path.exists() for s in d.samples[:50])


def _png(path, size=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), 100).save(path)


def test_plain_class_folders_with_and_without_splits(tmp_path):
    for name in ("happy/a.png", "Sad/b.jpg", "angry/c.png"):
        _png(tmp_path / "flat" / name)
    flat = open_dataset(tmp_path / "flat")
    assert sorted(s.label for s in flat.samples) == ["anger", "happiness", "sadness"]
    assert flat.label_set == ("happiness", "sadness", "anger")
    with pytest.raises(DatasetError, match="without split folders"):
        open_dataset(tmp_path / "flat", "train")
    for name in ("train/happy/a.png", "test/neutral/b.png"):
        _png(tmp_path / "split" / name)
    assert [s.label for s in open_dataset(f"folders:{tmp_path / 'split'}", "test").samples] == ["neutral"]
    _png(tmp_path / "bad" / "joyful" / "x.png")
    with pytest.raises(DatasetError, match="unknown expression label 'joyful'"):
        open_dataset(tmp_path / "bad")


def test_rafdb_fixture(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 7\n")
    for stem in ("train_00001", "train_00002", "test_0001"):
        _png(tmp_path / "Image" / "aligned" / f"{stem}_aligned.jpg", 100)
    d = open_dataset(tmp_path)
    assert d.kind == "rafdb" and [(s.label, s.split) for s in d.samples] == [
        ("sadness", "train"), ("surprise", "train"), ("neutral", "test")]
    assert all(s.path.exists() for s in d.samples)
    assert len(open_dataset(tmp_path, "test")) == 1
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(DatasetError, match="LABEL 1–7"):
        open_dataset(tmp_path)


def test_affectnet_fixture(tmp_path):
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    (tmp_path / "training.csv").write_text(header + "1/a.jpg,10,20,100,110,,1,0.5,0.2\n1/b.jpg,0,0,50,50,,9,0,0\n")
    (tmp_path / "validation.csv").write_text(header + "2/c.jpg,5,5,60,60,,7,-0.2,0.1\n")
    d = open_dataset(f"affectnet:{tmp_path}")
    assert [(s.label, s.split, s.box) for s in d.samples] == [
        ("happiness", "train", (10.0, 20.0, 110.0, 130.0)), ("contempt", "val", (5.0, 5.0, 65.0, 65.0))]
    assert d.dropped == {"train: expression code 9 (not one of the 8 emotions)": 1}
    with pytest.raises(DatasetError, match="not public"):
        open_dataset(tmp_path, "test")


def test_lfw_identity_split_is_disjoint():
    d = open_dataset(SHARED / "lfw-expressions")
    if not len(d):
        pytest.skip("no lfw data")
    by_split = {sp: {s.identity for s in d.samples if s.split == sp} for sp in ("train", "val", "test")}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["val"])
    assert identity_split("Aaron_Guiel") == identity_split("Aaron_Guiel")
    share = len(open_dataset(SHARED / "lfw-expressions", "train")) / len(d)
    assert 0.6 < share < 0.95


def test_lfw_halves_are_identity_disjoint_and_cover_everything():
    """partition="halves": val is identity half A (where choices are made), test half B."""
    from ferx.data.readers import identity_half

    root = SHARED / "lfw-expressions"
    if not (root / "labels.csv").exists():
        pytest.skip("no lfw data")
    a = open_dataset(root, "val", partition="halves")
    b = open_dataset(root, "test", partition="halves")
    everything = open_dataset(root)
    ids_a, ids_b = {s.identity for s in a.samples}, {s.identity for s in b.samples}
    assert ids_a and ids_b and not (ids_a & ids_b)
    assert len(a) + len(b) == len(everything) and 0.35 < len(a) / len(everything) < 0.65
    assert all(identity_half(s.identity) == "A" for s in a.samples) and a.name == "lfw-expressions/halves:val"
    with pytest.raises(DatasetError, match="only val"):
        open_dataset(root, "train", partition="halves")
    with pytest.raises(DatasetError, match="partition must be"):
        open_dataset(root, "val", partition="thirds")


def test_clear_errors_for_missing_or_unknown(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset folder"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="unknown dataset kind 'nosuch'; known: ferplus"):  # not "no such folder"
        open_dataset(f"nosuch:{tmp_path}")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DatasetError, match="cannot tell the dataset kind"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        open_dataset(SHARED / "lfw-expressions", "dev")
    with pytest.raises(DatasetError, match="unknown option"):
        open_dataset(SHARED / "lfw-expressions", protocol="majority")
    with pytest.raises(DatasetError, match="not a FER\\+ folder"):
        open_dataset(f"ferplus:{tmp_path}", "test")


def test_dataset_errors_say_what_the_folder_is(tmp_path):
    """Messages that pointed the wrong way: FER2013 given without its kind said "class folders without split
    folders" (the materialize.py hint came only with `fer2013:`), and a flat folder of images given as
    `folders:` was told to omit the split though it has neither class nor split folders."""
    kaggle = tmp_path / "kaggle"  # FER2013 as Kaggle ships it, and the shared folder with its script
    kaggle.mkdir()
    (kaggle / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    for folder in [kaggle] + ([SHARED / "fer2013"] if (SHARED / "fer2013" / "materialize.py").exists() else []):
        for spec in (folder, f"fer2013:{folder}", f"folders:{folder}"):
            with pytest.raises(DatasetError, match="materialize.py OUT and give fer2013:OUT") as e:
                open_dataset(spec, "train")
            assert "class folders" not in str(e.value)
    for name in ("a.png", "b.jpg"):
        _png(tmp_path / "flat" / name)
    with pytest.raises(DatasetError, match=r"flat: 2 image\(s\) directly in the folder, no sub-folders; a folders "
                                           r"dataset is labelled by its folders: root/<class>/\*.jpg") as e:
        open_dataset(f"folders:{tmp_path / 'flat'}", "train")
    assert "omit the split" not in str(e.value)
    with pytest.raises(DatasetError, match=r"cannot tell the dataset kind \(2 image\(s\) directly in the folder"):
        open_dataset(tmp_path / "flat", "train")
