"""Training the image-reading AU heads on the shared harness (`ferx.train.harness.fit`).

Loss: binary cross-entropy to each head's target (`ferx.train.aus.data`: a movement read by the
mesh where the mesh reads it well against FACS codes, else the FER+ votes through the FACS prior
P(AU | expression)), plus `prior_weight` × two co-occurrence terms (AU12 and AU15 exclude each other;
AU26 implies AU25). The classifier's output is never seen.

Validation (FER+ val), per head: the AUC of the head against its binarised target (target ≥ 0.5) —
how well it learnt what it was taught — and, for the record, the AUC on the expressions whose
prototype uses the AU against neutral faces. The best checkpoint is chosen by the first.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferx import facs
from ferx.aus.heads import HEAD_AUS, HEAD_CODES
from ferx.config import from_dict
from ferx.errors import ConfigError
from ferx.train.aus.calibration import roc_auc
from ferx.train.aus.config import AUTrainConfig
from ferx.train.aus.data import K, split_tensors
from ferx.train.aus.model import AUHeadNet
from ferx.train.harness import Randomness, Task, Validation, fit, normalise
from ferx.train.models import create_model
from ferx.train.runlog import RunLog

__all__ = ["AUHeadNet", "AUTask", "load_run_model", "predict", "train"]


def grading_labels(number: int) -> list[str]:
    """The expressions an AU's head is checked on against neutral faces: its defining prototypes, else
    every prototype that uses it."""
    core = [e for e in facs.EXPRESSIONS if number in facs.core_aus(e)]
    return core or [e for e, p in facs.EMOTION_PROTOTYPES.items() if number in p.supports]


def label_aucs(values: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """AU → AUC of its column, grading labels' faces vs neutral faces."""
    neu = labels == "neutral"
    out = {}
    for j, n in enumerate(HEAD_AUS):
        pos = np.isin(labels, grading_labels(n))
        out[n] = roc_auc(np.r_[values[pos, j], values[neu, j]], np.r_[np.ones(pos.sum()), np.zeros(neu.sum())].astype(bool))
    return out


def target_aucs(values: np.ndarray, targets: np.ndarray) -> dict[int, float]:
    """AU → AUC of its column against its binarised target (NaN where the target is all one side)."""
    return {n: roc_auc(values[:, j], targets[:, j] >= 0.5) for j, n in enumerate(HEAD_AUS)}


def prior_loss(probs: torch.Tensor) -> torch.Tensor:
    """Co-occurrence priors: AU12 and AU15 exclude each other; AU26 implies AU25."""
    j = {n: i for i, n in enumerate(HEAD_AUS)}
    return (probs[:, j[12]] * probs[:, j[15]]).mean() + torch.relu(probs[:, j[26]] - probs[:, j[25]]).mean()


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, masks: np.ndarray, device: torch.device, batch: int = 512) -> np.ndarray:
    """(N, K) head probabilities."""
    model.eval()
    out = []
    for s in range(0, len(crops), batch):
        x = normalise(torch.from_numpy(crops[s : s + batch])).to(device)
        m = torch.from_numpy(masks[s : s + batch].astype(np.float32)).to(device)
        out.append(torch.sigmoid(model(x, m)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, K), np.float32)


class AUTask(Task[AUTrainConfig]):
    """Aligned crops + region masks → `AUHeadNet` → BCE to the per-AU targets (+ priors)."""

    metric = "val_target_auc"
    losses = ("train_loss", "train_bce", "train_prior")

    def __init__(self, config: AUTrainConfig, progress: bool = True) -> None:
        if not config.ferplus:
            raise ConfigError("ferplus is required (the FER+ folder)")
        super().__init__(config)
        self.progress = progress

    def setup(self, device: torch.device, rng: Randomness, log: RunLog) -> nn.Module:
        cfg = self.config
        self.device, self.generator = device, rng.torch
        t0 = time.time()
        self.train = split_tensors(cfg, "train", cfg.max_train, self.progress)
        self.val = split_tensors(cfg, "val", cfg.max_eval, self.progress)
        self.crops = torch.from_numpy(self.train["crops"])
        self.masks = torch.from_numpy(self.train["masks"])
        self.targets = torch.from_numpy(self.train["targets"])
        taught = [c for c, t in zip(HEAD_CODES, self.train["taught"]) if t]
        log(f"train {len(self.crops)} FER+ faces, val {len(self.val['crops'])} ({time.time() - t0:.0f} s to load); "
            f"{K} AU heads: {', '.join(HEAD_CODES)}; taught movements by the mesh: {', '.join(taught) or 'none'}")
        return create_model(cfg.architecture, num_aus=K, **cfg.model_options)

    def steps_per_epoch(self) -> int:
        return -(-len(self.crops) // self.config.batch_size)

    def batches(self) -> list[torch.Tensor]:
        order = torch.randperm(len(self.crops), generator=self.generator)
        size = self.config.batch_size
        return [order[i * size : (i + 1) * size] for i in range(self.steps_per_epoch())]

    def step(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        x, m = normalise(self.crops[batch]), self.masks[batch].float()
        if self.config.augment:
            flip = torch.rand(len(batch), generator=self.generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            m = torch.where(flip[:, None, None, None], m.flip(-1), m)
        logits = model(x.to(self.device), m.to(self.device))
        q = self.targets[batch].to(self.device)
        bce = F.binary_cross_entropy_with_logits(logits, q)
        prior = prior_loss(torch.sigmoid(logits))
        loss = bce + self.config.prior_weight * prior
        return loss, [loss.item(), bce.item(), prior.item()]

    def validate(self, model: nn.Module) -> Validation:
        p = predict(model, self.val["crops"], self.val["masks"], self.device)
        fit_auc = target_aucs(p, self.val["targets"])
        label_auc = label_aucs(p, self.val["label"])
        bce = float(F.binary_cross_entropy(torch.from_numpy(p).clamp(1e-6, 1 - 1e-6),
                                           torch.from_numpy(self.val["targets"])))
        row = {"val_target_auc": float(np.nanmean(list(fit_auc.values()))), "val_label_auc": float(np.nanmean(list(label_auc.values()))),
               "val_bce": bce, **{f"val_auc_AU{n}": v for n, v in fit_auc.items()}}
        return Validation(row, {"target_auc": {f"AU{n}": v for n, v in fit_auc.items()},
                                "label_auc": {f"AU{n}": v for n, v in label_auc.items()}, "bce": bce})

    def checkpoint_extras(self, model: nn.Module) -> dict[str, Any]:
        return {"aus": list(HEAD_CODES)}


def train(config: AUTrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out` (what `ferx train-aus` calls); returns `out`."""
    return fit(AUTask(config, progress), out, resume=resume, progress=progress)


def load_run_model(run: Path) -> tuple[nn.Module, AUTrainConfig]:
    state = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=False)
    config = from_dict(AUTrainConfig, state["config"])
    if list(state.get("aus", HEAD_CODES)) != list(HEAD_CODES):
        raise ConfigError(f"{run}: trained for {state['aus']}, this ferx has heads for {list(HEAD_CODES)}")
    model = create_model(config.architecture, num_aus=K, **config.model_options)
    model.load_state_dict(state["model"])
    return model.eval(), config
