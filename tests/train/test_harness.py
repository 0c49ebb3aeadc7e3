"""The shared training harness: every trainer runs through it on real data, and a run stopped after an
epoch and resumed ends exactly where an uninterrupted run does."""

import csv
import json
from dataclasses import asdict, dataclass, fields

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ferx.numeric import NORMALISATIONS  # noqa: E402
from ferx.train.harness import INPUT_NORMALISATION, Task, fit, normalise, run_kind  # noqa: E402
from ferx.train.runconfig import resume_policy_of  # noqa: E402
from tests.conftest import LFW, SHARED  # noqa: E402


def _classifier(tmp_path, epochs: int) -> Task:
    """AU-guided classifier on 16 real FER+ training faces (augmentation and dropout on)."""
    from ferx.train.classifier import ClassifierTask, ClassifierTrainConfig

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    config = ClassifierTrainConfig(data=f"ferplus:{SHARED / 'ferplus'}", epochs=epochs, batch_size=8, max_train=16,
                                   max_eval=16, warmup_epochs=1, cache_dir=str(tmp_path / "landmarks"))
    return ClassifierTask(config, progress=False)


def _detector(tmp_path, epochs: int) -> Task:
    """One-pass detector on 4 real mosaics (EMA, mixup, flips, gradient clipping on)."""
    from ferx.train.onepass.data.mosaics import MosaicConfig
    from ferx.train.onepass.train import DetectorTask, DetectorTrainConfig

    with open(LFW / "labels.csv") as f:  # one centred box per photo (the real cache comes from the pipeline)
        boxes = {r["image"]: {"boxes": [[100.0, 90.0, 250.0, 260.0]]} for r in csv.DictReader(f)}
    (tmp_path / "boxes.json").write_text(json.dumps({"lfw": boxes, "ferplus_box": [6.0, 8.0, 42.0, 46.0]}))
    data = MosaicConfig(lfw=str(LFW), ferplus=str(SHARED / "ferplus"), size=128, face_min=28, face_max=56,
                        faces_min=2, faces_max=3, train_images=4, val_images=2, test_images=2, test_size=128,
                        test_faces_max=3, box_cache=str(tmp_path / "boxes.json"), cache_dir=str(tmp_path / "mosaics"))
    return DetectorTask(DetectorTrainConfig(data=data, model="onepass-nano-csp", epochs=epochs, batch_size=2,
                                            mixup=0.5), progress=False)


def _aus(tmp_path, epochs: int) -> Task:
    """Image-reading AU heads on 16 real FER+ training faces (flips on, mesh teacher), validated on 64."""
    from ferx.train.aus import AUTask, AUTrainConfig

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    config = AUTrainConfig(ferplus=str(SHARED / "ferplus"), teacher="au-facs-mesh", cache_dir=str(tmp_path / "au-cache"),
                           epochs=epochs, batch_size=8, max_train=16, max_eval=64, warmup_epochs=1)
    return AUTask(config, progress=False)


#: Every trainer ferx has, as (name, task factory). A new trainer (the AU estimator) adds itself here.
TRAINERS = {"classifier": _classifier, "detector": _detector, "aus": _aus}


class _Stop(Exception):
    pass


def _stop_at_second_epoch(task: Task) -> Task:
    calls = []
    batches = task.batches

    def first_epoch_only():
        calls.append(1)
        if len(calls) > 1:
            raise _Stop
        return batches()

    task.batches = first_epoch_only
    return task


def _rows(run):
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    for r in rows:
        del r["seconds"]
    return rows


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
def test_every_trainer_runs_through_the_harness_and_resumes_exactly(tmp_path, trainer):
    if not (LFW / "labels.csv").exists():
        pytest.skip("no shared data")
    make = TRAINERS[trainer]
    whole = fit(make(tmp_path, epochs=2), tmp_path / "whole", progress=False)
    for name in ("config.yaml", "metrics.csv", "log.txt", "last.pt", "best.pt"):
        assert (whole / name).is_file(), name
    task = make(tmp_path, epochs=2)
    with open(whole / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert header[:2 + len(task.losses)] == ["epoch", "lr", *task.losses] and header[-1] == "seconds"
    assert task.metric in header
    best = torch.load(whole / "best.pt", weights_only=False)
    assert {"model", "config", "epoch", "val"} <= set(best) and best["config"]["epochs"] == 2
    assert run_kind(best) == trainer  # what a command given this run folder by mistake says it is

    # stopped during epoch 2 (after epoch 1's checkpoint), then resumed with the same config
    stopped = tmp_path / "stopped"
    with pytest.raises(_Stop):
        fit(_stop_at_second_epoch(make(tmp_path, epochs=2)), stopped, progress=False)
    assert [r["epoch"] for r in _rows(stopped)] == ["1"]
    fit(make(tmp_path, epochs=2), stopped, resume=True, progress=False)
    assert "resumed after epoch 1" in (stopped / "log.txt").read_text()
    # same batches, augmentations, dropout and EMA: the same losses, metrics and weights
    assert _rows(stopped) == _rows(whole)
    a, b = (torch.load(run / "last.pt", weights_only=False) for run in (whole, stopped))
    for key in ("model", "ema"):
        if a[key] is not None:
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
def test_a_folder_holding_a_run_is_refused_without_resume(tmp_path, trainer):
    """A new run into a folder with a started run (config.yaml, log.txt) or a finished one (its reports
    too) overwrote it; without --resume it is refused, before anything in the folder changes."""
    from ferx.errors import ConfigError

    started = tmp_path / "started"
    started.mkdir()
    (started / "config.yaml").write_text("epochs: 1\n")
    (started / "log.txt").write_text("the first experiment\n")
    with pytest.raises(ConfigError, match=r"started: already holds a training run \(config.yaml, log.txt\); "
                                          r"pass --resume to continue it or choose another --out"):
        fit(TRAINERS[trainer](tmp_path, epochs=1), started, progress=False)
    assert sorted(p.name for p in started.iterdir()) == ["config.yaml", "log.txt"]
    assert (started / "config.yaml").read_text() == "epochs: 1\n"


def test_ferx_train_into_a_finished_run_is_one_line_and_leaves_it_alone(tmp_path, capsys):
    """`ferx train CONFIG --out RUN` twice: the second is refused (exit 2) and the first run's files stay
    as they were; an empty existing folder takes a new run."""
    import yaml

    from ferx.cli import main

    if not (LFW / "labels.csv").exists():
        pytest.skip("no shared data")
    config, run = tmp_path / "tiny.yaml", tmp_path / "run"
    config.write_text(yaml.safe_dump(asdict(_classifier(tmp_path, epochs=1).config)))
    run.mkdir()  # empty: fine
    assert main(["train", str(config), "--out", str(run), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert {"best.pt", "last.pt", "report.json", "log.txt"} <= set(before)
    capsys.readouterr()
    assert main(["train", str(config), "seed=1", "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{run}: already holds a training run" in err and "--resume" in err, err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


class _StopInFirstEpoch(Exception):
    pass


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
def test_a_run_stopped_in_its_first_epoch_resumes_from_the_start(tmp_path, capsys, trainer):
    """Stopped before epoch 1 ended, a run has its config.yaml but no last.pt; `--resume` said "nothing
    to resume". Now it starts over with the recorded config, says so, and ends as an uninterrupted run."""
    if not (LFW / "labels.csv").exists():
        pytest.skip("no shared data")
    make = TRAINERS[trainer]
    whole = fit(make(tmp_path, epochs=1), tmp_path / "whole", progress=False)
    task, stopped = make(tmp_path, epochs=1), tmp_path / "stopped"

    def stop():
        raise _StopInFirstEpoch

    task.batches = stop
    with pytest.raises(_StopInFirstEpoch):
        fit(task, stopped, progress=False)
    assert (stopped / "config.yaml").is_file() and not (stopped / "last.pt").exists()
    capsys.readouterr()
    fit(make(tmp_path, epochs=1), stopped, resume=True, progress=False)
    line = "resuming a run stopped before its first epoch ended (no last.pt): starting from epoch 1"
    assert line in capsys.readouterr().err and line in (stopped / "log.txt").read_text()
    assert _rows(stopped) == _rows(whole)
    a, b = (torch.load(run / "last.pt", weights_only=False) for run in (whole, stopped))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_resume_without_a_run_says_so(tmp_path):
    from ferx.errors import ConfigError

    with pytest.raises(ConfigError, match="nothing to resume"):
        fit(_classifier(tmp_path, epochs=1), tmp_path / "none", resume=True, progress=False)


def test_a_new_run_refused_by_its_data_leaves_nothing_behind(tmp_path, capsys):
    """A run whose dataset is wrong fails in its setup, after config.yaml and log.txt were written; the
    corrected command was then refused ("already holds a training run") and --resume may not change
    data. A new run that fails so, before any checkpoint, removes what it wrote."""
    import yaml

    from ferx.cli import main

    if not (LFW / "labels.csv").exists():
        pytest.skip("no shared data")
    config, flat = tmp_path / "tiny.yaml", tmp_path / "flat"
    config.write_text(yaml.safe_dump(asdict(_classifier(tmp_path, epochs=1).config)))
    flat.mkdir()
    (tmp_path / "empty").mkdir()
    for run in (tmp_path / "new", tmp_path / "empty"):
        assert main(["train", str(config), f"data=folders:{flat}", "--out", str(run), "--quiet"]) == 2
        assert "no sub-folders and no images" in capsys.readouterr().err
        assert run.exists() == (run.name == "empty") and not (run.exists() and any(run.iterdir()))
        assert main(["train", str(config), "--out", str(run), "--quiet"]) == 0  # the corrected command runs


def test_eval_on_an_analyze_output_says_it_is_not_a_training_run(tmp_path, capsys):
    """A `ferx analyze` output holds a config.yaml (the analyzer's): `ferx eval` called it "a training run
    with no finished epoch"."""
    from ferx.cli import main
    from tests.conftest import ROOT

    out = tmp_path / "analysed"
    assert main(["analyze", str(ROOT / "src" / "ferx" / "assets" / "astronaut.jpg"), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ferx: error: {out}: not a training run (no best.pt, no training config): it looks like "
                          "a `ferx analyze` output (its summary.json says so); expected an expression classifier "
                          "run (`ferx train`)"), err
    assert "no finished epoch" not in err


#: Per trainer, what `--resume` must refuse (a resumable key among them) and the messages it gives.
REFUSED = {
    "classifier": ("train", ["seed=1", "patience=3"],
                   ["--resume cannot change seed", "keys that can change on resume: epochs, patience"]),
    "detector": ("train-detector", ["lr=0.01", "data.seed=3", "epochs=3"],
                 ["--resume cannot change data.seed, lr", "keys that can change on resume"]),
}


@pytest.mark.parametrize("trainer", sorted(REFUSED))
def test_resume_applies_resumable_overrides_and_refuses_the_others(tmp_path, capsys, trainer):
    """`ferx train[-detector] CONFIG key=value --resume`: epochs=2 extends the run and is recorded; a key
    that would change the experiment is a usage error naming it, and changes nothing."""
    import yaml

    from ferx.cli import main

    if not (LFW / "labels.csv").exists():
        pytest.skip("no shared data")
    command, refused, messages = REFUSED[trainer]
    config, run = tmp_path / "tiny.yaml", tmp_path / "run"
    config.write_text(yaml.safe_dump(asdict(TRAINERS[trainer](tmp_path, epochs=1).config)))
    assert main([command, str(config), "--out", str(run), "--quiet"]) == 0
    assert main([command, str(config), "epochs=2", "--out", str(run), "--resume", "--quiet"]) == 0
    assert [r["epoch"] for r in _rows(run)] == ["1", "2"]
    text = (run / "config.yaml").read_text()
    assert yaml.safe_load(text)["epochs"] == 2
    assert [line for line in text.splitlines() if line.startswith("#")][0].startswith("# resumed at epoch 2 (")
    assert "epochs 1 -> 2" in text
    assert "changed on resume at epoch 2" in (run / "log.txt").read_text()

    capsys.readouterr()
    assert main([command, str(config), *refused, "--out", str(run), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert all(m in err for m in messages), err
    assert (run / "config.yaml").read_text() == text  # nothing applied, not even the resumable one
    assert len(_rows(run)) == 2
    assert main([command, str(config), "epochs=1", "--out", str(run), "--resume", "--quiet"]) == 2
    assert "already done 2 epochs" in capsys.readouterr().err


def test_every_config_key_needs_a_resume_decision():
    from ferx.train.onepass.train import DetectorTrainConfig
    from ferx.train.classifier import ClassifierTrainConfig

    @dataclass
    class WithNewKey(ClassifierTrainConfig):
        temperature: float = 1.0

    # every key has a decision: a new config key must be added to its trainer's table
    assert {f.name for f in fields(ClassifierTrainConfig)} == set(ClassifierTrainConfig.resume_policy)
    assert {f.name for f in fields(DetectorTrainConfig)} <= set(DetectorTrainConfig.resume_policy)
    assert resume_policy_of(ClassifierTrainConfig()) and resume_policy_of(DetectorTrainConfig())
    with pytest.raises(TypeError, match="no decision for temperature"):
        resume_policy_of(WithNewKey())


def test_training_scales_pixels_as_the_sidecar_says_inference_will():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    np.testing.assert_array_equal(normalise(torch.from_numpy(pixels)).numpy(), NORMALISATIONS[INPUT_NORMALISATION](pixels))
