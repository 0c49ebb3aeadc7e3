import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ferx.train.data import augment  # noqa: E402
from ferx.train.harness import normalise  # noqa: E402
from ferx.train.metrics import alignment_loss, classification_report, map_cosine, soft_cross_entropy  # noqa: E402
from ferx.train.models import ARCHITECTURES, create_model  # noqa: E402


def test_soft_cross_entropy_by_hand():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    # row 1: -log(1/2); row 2: -(0.5 log 3/4 + 0.5 log 1/4)
    expected = (math.log(2) + -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))) / 2
    assert float(soft_cross_entropy(logits, targets)) == pytest.approx(expected, rel=1e-6)
    w = torch.tensor([2.0, 1.0])
    assert float(soft_cross_entropy(logits[:1], targets[:1], w)) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_map_cosine_and_alignment_loss_by_hand():
    att = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    heat = torch.zeros(2, 4, 4)
    heat[:, :2, :2] = 1.0  # pooled to 2x2: [[1, 0], [0, 0]]
    cos = map_cosine(att, heat)
    np.testing.assert_allclose(cos.numpy(), [1.0, 0.5], atol=1e-6)
    loss = alignment_loss(att, heat, torch.tensor([True, True]))
    assert float(loss) == pytest.approx(0.25)  # mean of (0, 0.5)
    assert float(alignment_loss(att, heat, torch.tensor([False, False]))) == 0.0


def test_classification_report_by_hand():
    r = classification_report(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ("a", "b", "c"))
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["per_class_recall"] == {"a": 0.5, "b": 1.0, "c": 0.0}
    # F1: a = 2*(0.5*0.5)/1 = 0.5, b = 2*(2/3*1)/(5/3) = 0.8, c = 0
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


@pytest.mark.parametrize("name", ARCHITECTURES.names())
def test_architecture_contract(name):
    model = create_model(name, num_classes=8).eval()
    out = model(torch.randn(3, 1, 48, 48))
    assert out["logits"].shape == (3, 8)
    assert out["cam"].shape[:2] == (3, 8) and out["attention"].shape[0] == 3
    # with global average pooling and a linear head, the CAM's spatial mean is the logit
    torch.testing.assert_close(out["cam"].mean(dim=(2, 3)), out["logits"], atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in model.parameters()) * 4 < 20e6  # ships under 20 MB in float32


def test_augment_moves_heatmap_with_the_image():
    g = torch.Generator().manual_seed(0)
    img = torch.full((64, 1, 48, 48), -1.0)
    img[:, :, 10:20, 5:15] = 1.0  # a bright square, and the heatmap marks the same square
    heat = torch.zeros(64, 48, 48)
    heat[:, 10:20, 5:15] = 1.0
    a_img, a_heat = augment(img.clone(), heat.clone(), g, erase_p=0.0)
    bright = (a_img[:, 0] > 0).float()
    overlap = (bright * (a_heat > 0.5).float()).sum((1, 2)) / bright.sum((1, 2)).clamp(min=1)
    assert overlap.mean() > 0.85
    flipped = (a_img[:, 0, 10:20, 33:43] > 0).float().mean((1, 2)) > 0.5
    assert 10 < int(flipped.sum()) < 54  # about half the batch was mirrored


def test_normalise_range():
    x = normalise(torch.tensor([[[[0, 255]]]], dtype=torch.uint8))
    np.testing.assert_allclose(x.numpy().ravel(), [-1, 1])


@pytest.mark.slow  # measured 15–45 s on the loaded 2-core machine: CI runs it (make test-slow)
def test_tiny_run_overfits_real_faces(tmp_path):
    from tests.conftest import SHARED

    from ferx.data.readers import open_dataset
    from ferx.train.classifier import ClassifierTrainConfig, train

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    config = ClassifierTrainConfig(
        data=f"ferplus:{SHARED / 'ferplus'}", epochs=25, batch_size=8, max_eval=32,
        lr=0.05, warmup_epochs=0, augment=False, max_train=48, guidance_weight=1.0, patience=100, threads=1,
        cache_dir=str(tmp_path / "cache"), model_options={"dropout": 0.0},
    )
    ds = open_dataset(config.data, "train")
    assert len(ds) > 48
    run = train(config, tmp_path / "run", progress=False)
    from ferx.train.classifier import predict
    from ferx.train.data import load_crops

    # best.pt is chosen on unrelated validation faces; memorisation shows in the final weights
    model = create_model("resnet-fer", num_classes=8, dropout=0.0)
    model.load_state_dict(torch.load(run / "last.pt", weights_only=False)["model"])
    subset = type(ds)(ds.name, ds.kind, ds.root, ds.label_set, ds.samples[:48])
    crops = load_crops(subset, tmp_path / "cache", progress=False)
    acc = (predict(model, crops, torch.device("cpu"))["probs"].argmax(1) == crops.labels.numpy()).mean()
    assert acc > 0.8  # memorised its 48 training faces
    assert (run / "metrics.csv").read_text().count("\n") >= 2 and (run / "report.json").exists()

    # init_from: a one-epoch run at a negligible learning rate starts from those weights, so it
    # still knows the 48 faces (a fresh one-epoch run is near chance)
    again = train(replace(config, epochs=1, lr=1e-6, init_from=str(run / "last.pt")), tmp_path / "again", progress=False)
    model.load_state_dict(torch.load(again / "last.pt", weights_only=False)["model"])
    acc = (predict(model, crops, torch.device("cpu"))["probs"].argmax(1) == crops.labels.numpy()).mean()
    assert acc > 0.8
    with pytest.raises(FileNotFoundError, match="init_from"):
        train(replace(config, init_from=str(tmp_path / "missing.pt")), tmp_path / "bad", progress=False)


def _tiny_config_file(tmp_path, **extra) -> Path:
    """A one-epoch classifier config on 16 real FER+ training faces (16 validation, 16 test)."""
    import yaml

    from tests.conftest import SHARED

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    config = {"data": f"ferplus:{SHARED / 'ferplus'}", "epochs": 1, "batch_size": 8, "max_train": 16,
              "max_eval": 16, "warmup_epochs": 0, "augment": False, "threads": 1,
              "cache_dir": str(tmp_path / "cache"), **extra}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_validation_split_must_not_be_the_test_split(tmp_path, capsys):
    from ferx.cli import main
    from ferx.config import ConfigError
    from ferx.train.classifier import ClassifierTrainConfig, train

    config = _tiny_config_file(tmp_path)
    assert main(["train", str(config), "val_split=test", "--out", str(tmp_path / "run")]) == 2
    assert "val_split 'test' and test_split 'test' are the same split" in capsys.readouterr().err
    assert main(["train", str(config), "val_split=private_test", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "val_split 'private_test' and test_split 'test' are the same split (test)" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(ConfigError, match="must differ from the training split"):
        train(ClassifierTrainConfig(val_split="train"), tmp_path / "run2", progress=False)


def test_label_smoothing_by_hand():
    from ferx.train.classifier import smooth_labels

    t = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    s = smooth_labels(t, 0.2)
    # (1 − 0.2)·t + 0.2 / 4
    assert s.flatten().tolist() == pytest.approx([0.05, 0.85, 0.05, 0.05, 0.45, 0.45, 0.05, 0.05])
    assert s.sum(1).tolist() == pytest.approx([1.0, 1.0])


def test_domain_augment_on_real_faces():
    from tests.conftest import SHARED

    from ferx.data.readers import open_dataset
    from ferx.train.data import grey48, domain_augment

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    ds = open_dataset(f"ferplus:{SHARED / 'ferplus'}", "val")
    x = torch.from_numpy(np.stack([grey48(s.path) for s in ds.samples[:64]])[:, None])
    a = domain_augment(x, torch.Generator().manual_seed(3), p=0.5)
    b = domain_augment(x, torch.Generator().manual_seed(3), p=0.5)
    assert torch.equal(a, b)  # the run's generator decides everything: resumes draw the same
    assert a.shape == x.shape and a.dtype == torch.float32 and float(a.min()) >= 0 and float(a.max()) <= 255
    changed = (a - x.float()).abs().flatten(1).mean(1) > 0.5
    assert 0.6 < float(changed.float().mean()) < 1.0  # five changes at p = 0.5: most images, rarely all
    assert torch.equal(domain_augment(x, torch.Generator().manual_seed(3), p=0.0), x.float())
    # blur lowers the local contrast of a face: the mean absolute Laplacian drops
    blurred = domain_augment(x, torch.Generator().manual_seed(0), p=0.0, blur_sigma=(1.0, 1.0))
    only_blur = domain_augment(x, torch.Generator().manual_seed(0), p=1.0, gamma=(1.0, 1.0), contrast=(1.0, 1.0),
                               rescale=(1.0, 1.0), jpeg_quality=(100, 100))
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]
    sharp = torch.nn.functional.conv2d(blurred, lap).abs().mean()
    soft = torch.nn.functional.conv2d(only_blur, lap).abs().mean()
    assert soft < 0.7 * sharp


def test_a_tiny_run_validates_on_photos_every_epoch(tmp_path):
    """Cross-dataset validation on real photos (six lfw faces in class folders) is scored each epoch;
    the photo crops are cached and read back."""
    import csv
    import shutil

    from tests.conftest import LFW, lfw_rows

    from ferx.train.classifier import ClassifierTrainConfig, train

    rows = lfw_rows()
    folder = tmp_path / "photos"
    for emotion in ("happiness", "neutral", "surprise"):
        for r in [r for r in rows if r["emotion"] == emotion][:2]:
            (folder / emotion).mkdir(parents=True, exist_ok=True)
            shutil.copy(LFW / "images" / r["image"], folder / emotion / r["image"])
    from tests.conftest import SHARED

    config = ClassifierTrainConfig(
        data=f"ferplus:{SHARED / 'ferplus'}", epochs=2, batch_size=8, max_train=16, max_eval=16, warmup_epochs=0,
        threads=1, cache_dir=str(tmp_path / "cache"), soft_labels=True, train_protocol="probability",
        label_smoothing=0.1, domain_augment=0.5, ema=True, ema_decay=0.9, cross_val=f"folders:{folder}",
        cross_val_split="",
    )
    train(config, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "metrics.csv") as f:
        metrics = list(csv.DictReader(f))
    assert len(metrics) == 2 and all(0.0 <= float(m["xval_accuracy"]) <= 1.0 for m in metrics)
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "cross-dataset validation: folders:photos/all, 6 faces (0 photos without one)" in log
    assert len(list((tmp_path / "cache").glob("photo-crops-*.npz"))) == 1


def test_smoothing_and_domain_augment_are_checked(tmp_path):
    from tests.conftest import SHARED

    from ferx.errors import ConfigError
    from ferx.train.classifier import ClassifierTrainConfig

    with pytest.raises(ConfigError, match="label_smoothing"):
        ClassifierTrainConfig(data=f"ferplus:{SHARED / 'ferplus'}", label_smoothing=1.0)
    with pytest.raises(ConfigError, match="domain_augment"):
        ClassifierTrainConfig(data=f"ferplus:{SHARED / 'ferplus'}", domain_augment=1.5)


def test_distillation_loss_by_hand():
    from ferx.train.metrics import distillation_loss, soften

    # teacher probabilities (0.7, 0.2, 0.1) at T = 2: softmax(log p / 2) ∝ √p
    teacher = soften(torch.log(torch.tensor([[0.7, 0.2, 0.1]])), 2.0)
    root = np.sqrt([0.7, 0.2, 0.1])
    assert teacher[0].tolist() == pytest.approx((root / root.sum()).tolist(), abs=1e-6)
    student = torch.tensor([[1.0, 0.0, -1.0]])
    q = np.exp(np.array([0.5, 0.0, -0.5]))
    q /= q.sum()
    p = root / root.sum()
    expected = 4.0 * float((p * (np.log(p) - np.log(q))).sum())  # T² · KL(p ‖ q)
    assert float(distillation_loss(student, teacher, 2.0)) == pytest.approx(expected, abs=1e-6)
    # the student equal to the teacher: zero
    assert float(distillation_loss(torch.log(teacher) * 2.0, teacher, 2.0)) == pytest.approx(0.0, abs=1e-6)


def test_a_tiny_run_distils_from_the_shipped_model(tmp_path):
    """A one-epoch run on 16 real faces with the shipped ONNX classifier as teacher: the teacher's
    agreement with the labels is logged, and α = 1 trains on the teacher alone."""
    from tests.conftest import SHARED

    from ferx.errors import ConfigError
    from ferx.train.classifier import ClassifierTrainConfig, train

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    config = ClassifierTrainConfig(
        data=f"ferplus:{SHARED / 'ferplus'}", epochs=1, batch_size=8, max_train=16, max_eval=16, warmup_epochs=0,
        threads=1, cache_dir=str(tmp_path / "cache"), teachers=["ferplus-resnet-guided"], distill_weight=1.0,
        distill_temperature=2.0,
    )
    train(config, tmp_path / "run", progress=False)
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "distilling from 1 teacher(s) at T 2.0, α 1.0" in log
    agree = float(log.split("agrees with ")[1].split(" %")[0])
    assert agree >= 75.0  # the shipped model was trained on these faces
    # the prior the student learnt (its own targets × class weights) is saved for export
    prior = torch.load(tmp_path / "run" / "best.pt", weights_only=False)["train_prior"]
    assert len(prior) == 8 and sum(prior) == pytest.approx(1.0, abs=1e-4) and min(prior) >= 0
    with pytest.raises(ConfigError, match="needs teachers"):
        ClassifierTrainConfig(data=config.data, distill_weight=0.5)


def _folder_dataset(root: Path, offset: int) -> Path:
    """root/test/<label>/*.png: three real FER+ test faces per label (all eight, so the labels are the
    run's), starting at the `offset`-th face of each label."""
    import shutil

    from tests.conftest import SHARED

    from ferx.data.readers import open_dataset

    samples = open_dataset(f"ferplus:{SHARED / 'ferplus'}", "test").samples
    for label in {s.label for s in samples}:
        (root / "test" / label).mkdir(parents=True)
        for s in [s for s in samples if s.label == label][offset : offset + 3]:
            shutil.copy(s.path, root / "test" / label / s.path.name)
    return root


def test_eval_takes_the_whole_split_and_says_how_much_it_evaluated(tmp_path, capsys):
    """After a run with max_eval=16, `ferx eval` evaluated only 16 images of any split and gave no total;
    `--data` wrote report-test.json whatever the dataset, so a second dataset overwrote the first. Now
    the whole split by default ("n of N" printed and in the report), --max-images for a part, and the
    dataset in the report's name."""
    import json

    from ferx.cli import main

    config, run = _tiny_config_file(tmp_path), tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--quiet"]) == 0
    after_training = json.loads((run / "report.json").read_text())
    assert after_training["n"] == 16 and after_training["n_split"] > 3000  # max_eval bounds this one, and says so
    assert f"test (16 of {after_training['n_split']} images of ferplus:majority/test)" in (run / "log.txt").read_text()

    a, b = _folder_dataset(tmp_path / "a", 0), _folder_dataset(tmp_path / "b", 3)
    capsys.readouterr()
    for folder in (a, b):
        assert main(["eval", str(run), "--data", f"folders:{folder}"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["images"] == f"24 of 24 images of folders:{folder.name}/test", printed
        assert printed["n"] == printed["n_split"] == 24
    reports = {name: json.loads((run / name).read_text()) for name in ("report-test-folders-a.json",
                                                                      "report-test-folders-b.json")}
    assert [r["dataset"] for r in reports.values()] == ["folders:a/test", "folders:b/test"]
    assert json.loads((run / "report.json").read_text()) == after_training  # --data leaves the run's own alone

    assert main(["eval", str(run), "--max-images", "8"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"] == f"8 of {after_training['n_split']} images of ferplus:majority/test"
    assert printed["report"] == str(run / "report.json")


def test_an_unknown_dataset_kind_in_a_training_config_is_named(tmp_path, capsys):
    """`data=bogus:/tmp` was made a path ("[Errno 2] No such file or directory: '.../bogus:/tmp'")."""
    from ferx.cli import main

    config = _tiny_config_file(tmp_path)
    assert main(["train", str(config), f"data=bogus:{tmp_path}", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"bogus:{tmp_path}: unknown dataset kind 'bogus'; known: ferplus" in err and "Errno" not in err, err


def test_eval_on_a_dataset_with_some_of_the_labels_scores_the_model_s_classes(tmp_path, capsys):
    """`ferx eval --data` on a folders dataset holding only sadness and happiness scored the dataset's label
    indices (0 = happiness, 1 = sadness) against the model's outputs (0 = neutral, 1 = happiness): other
    classes. They are put in the model's order now; a label the model does not know is refused."""
    import json
    import shutil

    import torch

    from ferx.cli import main
    from ferx.errors import ConfigError
    from ferx.train.classifier import in_model_labels
    from ferx.train.data import CropTensors

    model_labels = ("neutral", "happiness", "surprise", "sadness")
    crops = CropTensors(torch.zeros(3, 1, 48, 48, dtype=torch.uint8), torch.tensor([0, 1, 1]),
                        torch.tensor([[1.0, 0.0], [0.2, 0.8], [0.0, 1.0]]), torch.zeros(3, 48, 48, dtype=torch.float16),
                        torch.zeros(3, dtype=torch.bool), ("happiness", "sadness"), 0)
    moved = in_model_labels(crops, model_labels)
    assert moved.labels.tolist() == [1, 3, 3] and moved.label_set == model_labels
    assert moved.soft[1].tolist() == pytest.approx([0.0, 0.2, 0.0, 0.8])
    with pytest.raises(ConfigError, match="contempt"):
        in_model_labels(crops.__class__(*(getattr(crops, f) for f in ("images", "labels", "soft", "heatmaps",
                                                                      "has_heatmap")), ("happiness", "contempt"), 0),
                        model_labels)

    config, run = _tiny_config_file(tmp_path), tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--quiet"]) == 0
    folder = _folder_dataset(tmp_path / "two", 0)
    for label in [p.name for p in (folder / "test").iterdir() if p.name not in ("happiness", "sadness")]:
        shutil.rmtree(folder / "test" / label)
    capsys.readouterr()
    assert main(["eval", str(run), "--data", f"folders:{folder}"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 6
    report = json.loads((run / "report-test-folders-two.json").read_text())
    assert set(report["per_class_recall"]) == {"happiness", "sadness"}
    matrix = report["confusion"]
    labels = report["labels"]
    true_rows = [i for i, row in enumerate(matrix) if sum(row) > 0]  # only the two labels the folder holds
    assert sorted(labels[i] for i in true_rows) == ["happiness", "sadness"], (labels, matrix)
