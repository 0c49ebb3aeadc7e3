"""SimOTA assignment, and training runs on real mosaics: a tiny overfit, and the run folder with --resume."""

import csv
import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from ferx.train.onepass.data.mosaics import MosaicConfig, generate_split  # noqa: E402
from ferx.train.onepass.evaluate import evaluate  # noqa: E402
from ferx.train.onepass.loss import detection_loss, flatten_and_decode, simota  # noqa: E402
from ferx.train.onepass.model import create_model  # noqa: E402
from ferx.train.onepass.train import DetectorTrainConfig, make_batch, predict_torch, train  # noqa: E402
from ferx.errors import ConfigError  # noqa: E402
from ferx.facs import EXPRESSIONS  # noqa: E402
from tests.train.onepass.test_data import FERPLUS, LFW, _fake_cache  # noqa: E402


def test_simota_assigns_cells_near_each_face_only():
    torch.manual_seed(0)
    model = create_model("onepass-nano-csp").eval()
    with torch.no_grad():
        maps = model(torch.zeros(1, 1, 128, 128))
    raw, boxes, anchors = flatten_and_decode(maps, (128, 128))
    gt = torch.tensor([[8.0, 8.0, 40.0, 48.0], [70.0, 60.0, 120.0, 120.0]])
    targets = torch.eye(8)[[1, 3]]
    fg, matched, ious = simota(boxes[0], raw[0, :, 4], raw[0, :, 5:], anchors, gt, targets)
    assert len(fg) >= 2 and set(matched.tolist()) == {0, 1}  # every face gets at least one cell
    assert len(set(fg.tolist())) == len(fg)  # a cell serves one face
    centres = anchors[fg, :2]
    g = gt[matched]
    radius = 2.5 * anchors[fg, 2:3]
    gc = (g[:, :2] + g[:, 2:]) / 2
    assert bool(((centres - gc).abs() < radius).all())  # inside the centre region of its face
    assert bool(((centres >= g[:, :2]) & (centres <= g[:, 2:])).all())  # and inside its box


def _tiny_split(tmp_path, n=4, size=128):
    cache = _fake_cache()
    cfg = MosaicConfig(lfw=str(LFW), ferplus=str(FERPLUS), size=size, face_min=28, face_max=56, faces_min=2,
                       faces_max=3, val_images=n, lfw_share=0.0, box_cache=str(tmp_path / "boxes.json"),
                       cache_dir=str(tmp_path / "cache"))
    (tmp_path / "boxes.json").write_text(json.dumps(cache))
    return cfg, generate_split(cfg, "val", cache, progress=False)


@pytest.mark.slow  # measured 15–45 s on the loaded 2-core machine: CI runs it (make test-slow)
def test_tiny_training_run_overfits_real_mosaics(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    _, split = _tiny_split(tmp_path)
    model = create_model("onepass-nano-vss")
    for m in model.modules():  # a 60-step run: let BatchNorm's running statistics follow the batch quickly
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.3
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    cfg = DetectorTrainConfig(mixup=0.0, flip=0.0, photometric=False)
    rng = np.random.default_rng(0)
    x, targets = make_batch(split, np.arange(len(split)), cfg, rng, len(EXPRESSIONS), augment=False)
    before = evaluate(predict_torch(model, split.images, 0.01, 0.3, torch.device("cpu")), split.boxes, split.labels,
                      EXPRESSIONS)
    model.train()
    first = None
    for step in range(60):
        loss = detection_loss(model(x), (128, 128), targets)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss) < 0.5 * first
    after = evaluate(predict_torch(model, split.images, 0.01, 0.3, torch.device("cpu")), split.boxes, split.labels,
                     EXPRESSIONS)
    assert before["face_ap50"] < 0.1
    assert after["face_ap50"] > 0.8, after["face_ap50"]


def _tiny_run_config(tmp_path) -> DetectorTrainConfig:
    data, _ = _tiny_split(tmp_path, n=2)
    data.train_images, data.val_images, data.test_images = 4, 2, 2
    data.test_size, data.test_faces_max = 128, 3
    return DetectorTrainConfig(data=data, model="onepass-nano-csp", epochs=1, batch_size=2, threads=1)


def test_run_folder_and_resume(tmp_path):
    cfg = _tiny_run_config(tmp_path)
    data = cfg.data
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    for name in ("config.yaml", "metrics.csv", "log.txt", "last.pt", "best.pt"):
        assert (run / name).is_file(), name
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["train_images"] == 4 and saved["model"] == "onepass-nano-csp"
    del saved["class_balance"]  # a run started before that key existed resumes with its default
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    train(replace(cfg, epochs=2), run, resume=True, progress=False)  # extend the finished run by one epoch
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert "resumed after epoch 1" in (run / "log.txt").read_text()
    manifest = json.loads((data.folder() / "train" / "manifest.json").read_text())
    assert manifest["key"] == data.key() and manifest["images"] == 4


def test_export_writes_to_models_and_the_stage_reads_its_input_scaling(tmp_path, monkeypatch):
    """`ferx export-detector RUN --name NAME` writes ./models/NAME.onnx + NAME.json (not into the
    installed package); the sidecar states the training's input scaling, and the stage runs it."""
    pytest.importorskip("onnxruntime")
    from ferx.cli import main
    from ferx.numeric import NORMALISATIONS
    from ferx.train.onepass.data.store import load_split
    from ferx.detect.onepass import OnnxDetector
    from ferx.train.onepass.train import load_run_model
    from ferx.train.harness import INPUT_NORMALISATION

    cfg = _tiny_run_config(tmp_path)
    train(cfg, tmp_path / "run", progress=False)
    monkeypatch.chdir(tmp_path)
    assert main(["export-detector", str(tmp_path / "run"), "--name", "tiny", "--size", "128"]) == 0
    meta = json.loads((tmp_path / "models" / "tiny.json").read_text())
    assert meta["input"]["normalise"] == INPUT_NORMALISATION and INPUT_NORMALISATION in NORMALISATIONS
    image = np.asarray(load_split(cfg.data, "val", progress=False).images[0])
    _, scores, _ = OnnxDetector(str(tmp_path / "models" / "tiny.onnx")).predict(image, conf=0.0)
    model, _ = load_run_model(tmp_path / "run")
    ref = predict_torch(model, image[None], 0.0, 0.3, torch.device("cpu"))[0]
    np.testing.assert_allclose(np.sort(scores)[-10:], np.sort(ref.scores)[-10:], atol=1e-4)  # as trained


def test_validation_split_cannot_be_configured(tmp_path, capsys):
    """The detector validates on "val" and reports on "test", by name: there is no split key, so a config
    cannot make the validation split the test split (the key is refused as unknown, exit 2)."""
    from ferx.cli import main

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(asdict(_tiny_run_config(tmp_path))))
    assert main(["train-detector", str(config), "val_split=test", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "unknown config key(s) 'val_split'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_config_keys_raise(tmp_path):
    from ferx.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match="data.sizes"):
        from_dict(DetectorTrainConfig, {"data": {"sizes": 3}})
    with pytest.raises(ConfigError, match="unknown option"):
        train(DetectorTrainConfig(model_options={"depthh": 1}), tmp_path / "x", progress=False)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(DetectorTrainConfig(), tmp_path / "y", resume=True, progress=False)
    from ferx.train.onepass.train import evaluate_target

    with pytest.raises(ConfigError, match="unknown split 'valid'.*val-like-test"):
        evaluate_target(tmp_path / "z.onnx", split="valid")


def test_class_balance_weights_rare_labels_up_and_raises_their_loss():
    from ferx.train.onepass.train import class_weights

    labels = [np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0, 0, 0, 0, 1, 1, 1, 1, 7])]
    assert class_weights(labels, 8, 0.0) is None
    w = class_weights(labels, 8, 0.5)
    np.testing.assert_allclose(w[[0, 1, 7]], [1.0, 1.0, np.sqrt(8.0)], rtol=1e-6)
    assert (w[2:7] == w.max()).all()  # unseen classes take the largest weight
    with pytest.raises(Exception, match="class_balance"):
        class_weights(labels, 8, -1.0)

    torch.manual_seed(0)
    model = create_model("onepass-nano-csp", num_classes=8).eval()
    x = torch.zeros(1, 1, 64, 64)
    target = [(torch.tensor([[8.0, 8.0, 56.0, 56.0]]), torch.eye(8)[[7]])]  # one contempt face
    with torch.no_grad():
        maps = model(x)
        plain = detection_loss(maps, (64, 64), target)["cls"]
        weighted = detection_loss(maps, (64, 64), target, torch.from_numpy(w))["cls"]
    assert float(weighted) > float(plain)


def test_make_batch_takes_class_target_distributions_and_mixup_carries_them(tmp_path):
    _, split = _tiny_split(tmp_path, n=3)
    soft = [np.full((len(b), 8), 1 / 8, np.float32) * (i + 1) for i, b in enumerate(split.boxes)]
    cfg = DetectorTrainConfig(mixup=1.0, flip=0.0, photometric=False)
    _, targets = make_batch(split, np.array([0, 1]), cfg, np.random.default_rng(0), 8, augment=True, class_targets=soft)
    for j, (boxes, cls) in enumerate(targets):
        assert len(cls) == len(boxes) > len(split.boxes[j])  # the mixed-in mosaic's faces came with their targets
        np.testing.assert_allclose(cls[: len(split.boxes[j])].numpy(), soft[j])
    _, plain = make_batch(split, np.array([2]), replace(cfg, mixup=0.0), np.random.default_rng(0), 8, augment=True)
    np.testing.assert_array_equal(plain[0][1].argmax(1).numpy(), split.labels[2])  # one-hot without teachers
    assert float(plain[0][1].sum()) == len(split.labels[2])


def _onnx_probs(images):
    """The shipped classifier's probabilities on uint8 crops (N, 1, 48, 48), straight from onnxruntime."""
    import onnxruntime as ort

    from ferx.expression.onnx_classifier import model_files
    from ferx.numeric import input_normalisation

    path, meta = model_files("ferplus-resnet-guided")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    p = sess.run(["probs"], {"image": input_normalisation(meta, str(path))(images)})[0]
    return p[:, [list(meta["labels"]).index(lab) for lab in EXPRESSIONS]]


def test_teacher_targets_show_each_face_as_the_pipeline_would(tmp_path):
    """FER+ faces reach the teacher as their 48×48 files, lfw faces as the analyzer's aligned crop of
    their photo; the target is (1 − α)·one-hot + α·teacher, and the report counts agreement."""
    pytest.importorskip("onnxruntime")
    from ferx.train.onepass.train import teacher_targets
    from ferx.train.data import grey48, load_photo_crops
    from ferx.data.readers import open_dataset

    cfg, split = _tiny_split(tmp_path, n=3)
    cfg.lfw_share = 0.5
    from ferx.train.onepass.data.mosaics import generate_split

    split = generate_split(cfg, "val", _fake_cache(), progress=False)
    cols = split.manifest["faces_columns"]
    rows = split.manifest["faces"]
    sources = {r[cols.index("source")] for r in rows}
    assert sources == {"ferplus", "lfw-expressions"}, sources
    targets, report = teacher_targets(split, cfg, ["ferplus-resnet-guided"], 0.5, 1.0, torch.device("cpu"),
                                      progress=False)
    assert [len(t) for t in targets] == [len(b) for b in split.boxes]
    fer = {s.path.name: s.path for s in open_dataset(f"ferplus:{FERPLUS}", "val", protocol="majority").samples}
    lfw_names = {r[cols.index("file")] for r in rows if r[cols.index("source")] == "lfw-expressions"}
    lfw = open_dataset(f"lfw-expressions:{LFW}")
    crops = load_photo_crops(replace(lfw, samples=[s for s in lfw.samples if s.path.name in lfw_names]),
                             tmp_path / "cache", progress=False)
    crop_of = {p.split("/")[-1]: crops.images[i].numpy() for i, p in enumerate(crops.paths)}
    seen = 0
    for r in rows:
        i = r[cols.index("image")]
        k = sum(1 for q in rows[: rows.index(r)] if q[cols.index("image")] == i)
        got = targets[i][k]
        onehot = np.eye(8, dtype=np.float32)[r[cols.index("label")]]
        name = r[cols.index("file")]
        if r[cols.index("source")] == "ferplus":
            image = grey48(fer[name])[None, None]
        elif name in crop_of:
            image = crop_of[name][None]
        else:  # no face found in the photo: the label alone
            np.testing.assert_allclose(got, onehot)
            continue
        np.testing.assert_allclose(got, 0.5 * onehot + 0.5 * _onnx_probs(image)[0], atol=1e-5)
        seen += 1
    assert seen >= 2 and report["ferplus"]["taught"] == report["ferplus"]["faces"]
    assert 0.0 <= report["ferplus"]["agreement"] <= 1.0 and report["lfw-expressions"]["faces"] >= 1


def test_distilled_detector_run_and_its_config_checks(tmp_path):
    pytest.importorskip("onnxruntime")
    from ferx.config import ConfigError

    cfg = replace(_tiny_run_config(tmp_path), teachers=["ferplus-resnet-guided"], distill_weight=0.5)
    train(cfg, tmp_path / "run", progress=False)
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "distilling the class head from 1 teacher(s), α 0.5" in log and "ferplus" in log
    with pytest.raises(ConfigError, match="needs teachers"):
        DetectorTrainConfig(distill_weight=0.5)
    with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
        DetectorTrainConfig(teachers=["x"], distill_weight=1.5)


def test_votes_teach_ferplus_faces_and_the_teacher_only_lfw_faces(tmp_path):
    """Issue 26's targets: distill_sources [lfw-expressions] keeps the teacher off FER+ faces, whose
    target is then 0.5·one-hot + 0.5·their annotators' votes (FER+'s probability protocol)."""
    pytest.importorskip("onnxruntime")
    from ferx.data.readers import open_dataset
    from ferx.train.onepass.targets import teacher_targets

    cfg, _ = _tiny_split(tmp_path, n=3)
    cfg.lfw_share = 0.5
    split = generate_split(cfg, "val", _fake_cache(), progress=False)
    targets, report = teacher_targets(split, cfg, ["ferplus-resnet-guided"], 0.5, 1.0, torch.device("cpu"),
                                      progress=False, sources=["lfw-expressions"], votes=0.5)
    votes = {s.path.name: s.soft for s in open_dataset(f"ferplus:{FERPLUS}", "val", protocol="probability").samples}
    cols = split.manifest["faces_columns"]
    rows = split.manifest["faces"]
    eye = np.eye(8, dtype=np.float32)
    fer_rows = 0
    for i in range(len(split)):
        mine = [r for r in rows if r[0] == i]
        for k, r in enumerate(mine):
            if r[cols.index("source")] != "ferplus":
                continue
            fer_rows += 1
            label, name = r[cols.index("label")], r[cols.index("file")]
            want = 0.5 * eye[label] + 0.5 * votes[name] if name in votes else eye[label]
            np.testing.assert_allclose(targets[i][k], want, atol=1e-6)
    assert fer_rows >= 2 and report["ferplus"]["taught"] == 0
    assert 0 < report["ferplus"]["votes"] <= report["ferplus"]["faces"] == fer_rows
    assert report["lfw-expressions"]["taught"] >= 1
    with pytest.raises(ConfigError, match="unknown source"):
        teacher_targets(split, cfg, ["ferplus-resnet-guided"], 0.5, 1.0, torch.device("cpu"), sources=["rafdb"])


def test_photo_validation_keys_are_checked():
    with pytest.raises(ConfigError, match="photo columns need val_photos"):
        DetectorTrainConfig(select="val_photo_macro_recall")
    with pytest.raises(ConfigError, match="not a validation column"):
        DetectorTrainConfig(val_photos=True, select="val_loss")
    with pytest.raises(ConfigError, match="ferplus_votes"):
        DetectorTrainConfig(ferplus_votes=1.5)
    with pytest.raises(ConfigError, match="distill_sources"):
        DetectorTrainConfig(distill_sources=["affectnet"])
    assert DetectorTrainConfig(val_photos=True, select="val_expression").select == "val_expression"


@pytest.mark.slow  # validates on the ~220 whole validation photos at 640 px every epoch: ~1 min loaded
def test_a_run_with_photo_validation_records_its_columns_and_chooses_by_them(tmp_path):
    cfg = replace(_tiny_run_config(tmp_path), val_photos=True, select="val_expression")
    train(cfg, tmp_path / "run", progress=False)
    row = next(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    for key in ("val_photo_found", "val_photo_label_accuracy", "val_photo_macro_recall", "val_expression"):
        assert 0.0 <= float(row[key]) <= 1.0, key
    assert float(row["val_expression"]) == pytest.approx((float(row["val_expr_map50"]) + float(row["val_photo_macro_recall"])) / 2)
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["val"]["photos"]["photos"] > 100


def test_detector_commands_say_what_a_folder_of_another_kind_is(tmp_path, capsys):
    """`ferx eval-detector` / `export-detector` on a classifier's run folder raised KeyError:
    'model_config'; other folders got "no best.pt" whatever they were. They now say what the folder is
    and what they expected (exit 2), and `ferx eval` does the same for a detector run."""
    from ferx.cli import main
    from ferx.train.classifier import ClassifierTrainConfig
    from ferx.train.models import create_model as create_classifier

    classifier = tmp_path / "classifier"  # best.pt as `ferx train` writes it (harness keys + checkpoint_extras)
    classifier.mkdir()
    torch.save({"model": create_classifier("resnet-fer", num_classes=8).state_dict(), "epoch": 0, "val": {},
                "config": asdict(ClassifierTrainConfig()), "label_set": EXPRESSIONS, "train_prior": None},
               classifier / "best.pt")
    (tmp_path / "empty").mkdir()
    (tmp_path / "started").mkdir()  # a run stopped before its first epoch ended
    (tmp_path / "started" / "config.yaml").write_text("epochs: 1\n")
    (tmp_path / "notes.txt").write_text("not a run\n")
    expected = "expected a one-pass detector run (`ferx train-detector`)"
    cases = {classifier: "an expression classifier run (`ferx train`), not a one-pass detector run",
             tmp_path / "empty": f"an empty folder; {expected}",
             tmp_path / "started": f"a training run with no finished epoch (no best.pt yet); {expected}",
             tmp_path / "missing": f"no such folder; {expected}",
             tmp_path / "notes.txt": f"a file, not a run folder; {expected}"}
    for folder, said in cases.items():
        for args in (["eval-detector", str(folder)], ["export-detector", str(folder), "--name", "x"]):
            assert main([*args, "--out", str(tmp_path / "models")] if args[0] == "export-detector" else args) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"ferx: error: {folder}: {said}") and err.count("\n") == 1, err
    assert not (tmp_path / "models").exists()
    detector = tmp_path / "detector"
    train(_tiny_run_config(tmp_path), detector, progress=False)
    assert main(["eval", str(detector)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ferx: error: {detector}: a one-pass detector run (`ferx train-detector`), not an "
                          "expression classifier run (`ferx train`)")
