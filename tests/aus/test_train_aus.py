"""The AU-head trainer on real FER+ faces: targets from the votes, a short run that learns, and the
resume decisions of its config (the exact-resume check is tests/train/test_harness.py's)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, SHARED

torch = pytest.importorskip("torch")

#: The measurement cache of benchmarks/au_features.py (mesh landmarks of every FER+ crop, lfw).
FEATURES = ROOT.parent / "runs" / "ferx-aus"


def _config(tmp_path, **kw):
    from ferx.train.aus import AUTrainConfig

    if not (SHARED / "ferplus").exists() or not (FEATURES / "ferplus-train.npz").exists():
        pytest.skip("no FER+ data or no au_features cache")
    return AUTrainConfig(ferplus=str(SHARED / "ferplus"), features=str(FEATURES), cache_dir=str(tmp_path / "cache"),
                         **kw)


def test_every_key_has_a_resume_decision():
    from dataclasses import fields

    from ferx.train.aus import AUTrainConfig
    from ferx.train.runconfig import resume_policy_of

    assert {f.name for f in fields(AUTrainConfig)} == set(AUTrainConfig.resume_policy)
    assert resume_policy_of(AUTrainConfig())


def test_training_tensors_are_aligned_crops_with_vote_targets(tmp_path):
    from ferx.aus.heads import HEAD_AUS, au_targets
    from ferx.data.readers import open_dataset
    from ferx.train.aus import split_tensors

    cfg = _config(tmp_path)
    t = split_tensors(cfg, "train", 200)
    assert t["crops"].shape == (200, 1, 48, 48) and t["masks"].shape == (200, len(HEAD_AUS), 12, 12)
    assert t["crops"].std() > 20
    # every region lies on the crop for nearly every face (the chin, AU17, falls off ~4 % of FER+ crops)
    assert ((t["masks"].reshape(200, len(HEAD_AUS), -1).max(-1) > 0.5).mean(0) > 0.9).all()
    # the targets come from the ten votes (FER+ "probability" protocol), not from the majority label
    votes = {f"{s.path.parent.name}/{s.path.name}": s.soft
             for s in open_dataset(f"ferplus:{cfg.ferplus}", "train", protocol="probability").samples}
    with np.load(FEATURES / "ferplus-train.npz") as z:
        names = [str(x) for x in z["image"][:200]]
    mixed = [i for i, n in enumerate(names) if votes[n].max() < 0.99]
    assert mixed
    np.testing.assert_allclose(t["targets"][mixed], au_targets(np.stack([votes[names[i]] for i in mixed])), rtol=1e-6)
    assert Path(cfg.cache_dir).glob("ferplus-train-200-*.npz")  # prepared once, then read back


def test_a_short_run_learns_smiles(tmp_path):
    """2,000 real faces, 4 epochs: the AU12 head separates happy from neutral validation faces."""
    from ferx.train.aus import AUTask
    from ferx.train.harness import fit

    cfg = _config(tmp_path, epochs=4, batch_size=64, max_train=2000, max_eval=300, lr=0.01)
    run = fit(AUTask(cfg, progress=False), tmp_path / "run", progress=False)
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and float(rows[-1]["train_bce"]) < float(rows[0]["train_bce"])
    assert float(rows[-1]["val_auc_AU12"]) > 0.7, rows[-1]["val_auc_AU12"]


def test_shipped_config_loads_with_absolute_paths(tmp_path):
    from ferx.train.aus import AUTrainConfig
    from ferx.train.runconfig import load_run_config

    cfg = load_run_config(AUTrainConfig, ROOT / "configs" / "aus-heads.yaml", ["epochs=2"], tmp_path / "run", False)
    assert cfg.epochs == 2 and cfg.threads == 1 and cfg.architecture == "au-heads"
    assert all(Path(p).is_absolute() for p in (cfg.ferplus, cfg.features, cfg.cache_dir))
    assert cfg.ferplus.endswith("shared/data/ferplus")
