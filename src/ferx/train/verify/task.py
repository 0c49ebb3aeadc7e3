"""Training the face verifier on the shared harness (`ferx.train.harness.fit`).

Loss: binary cross-entropy, face vs not, each class weighted to half of the total, and within the
non-faces the ones the mesh lets through (presence >= 0.5: the ones the verifier exists for) counted
twice. Validation: the threshold that keeps `recall` of the validation faces the mesh confirms, and
the share of the mesh-confirmed non-faces it rejects there (the metric; best.pt is chosen by it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferx.config import from_dict
from ferx.errors import ConfigError
from ferx.train.harness import Randomness, Task, Validation, fit, normalise
from ferx.train.runlog import RunLog
from ferx.train.verify.config import VerifierTrainConfig
from ferx.train.verify.data import KINDS, Examples
from ferx.train.verify.model import VerifierNet

#: The mesh presence from which a crop counts as one the pipeline would show the verifier.
SEEN_PRESENCE = 0.5


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, batch: int = 1024) -> np.ndarray:
    """(N,) face probabilities of (N, 48, 48) uint8 crops."""
    model.eval()
    out = [torch.sigmoid(model(normalise(torch.from_numpy(crops[s : s + batch])[:, None]))).numpy()
           for s in range(0, len(crops), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def operating_point(p: np.ndarray, ex: Examples, recall: float) -> dict[str, Any]:
    """The threshold keeping `recall` of the seen faces; the seen non-faces it rejects, in all and per
    kind and source."""
    seen = ex.presence >= SEEN_PRESENCE
    faces, others = seen & (ex.label == 1), seen & (ex.label == 0)
    threshold = float(np.quantile(p[faces], 1 - recall)) if faces.any() else 0.5
    rejected = p < threshold
    out: dict[str, Any] = {"threshold": threshold, "faces_kept": float((~rejected[faces]).mean()),
                           "rejected": float(rejected[others].mean()) if others.any() else float("nan"),
                           "seen_faces": int(faces.sum()), "seen_non_faces": int(others.sum())}
    for k, name in enumerate(KINDS[1:], 1):
        m = others & (ex.kind == k)
        out[f"rejected_{name}"] = float(rejected[m].mean()) if m.any() else float("nan")
    for g, name in enumerate(ex.groups):
        m = seen & (ex.group == g)
        out[f"{name}_wrong"] = int((rejected[m] == (ex.label[m] == 1)).sum())
    return out


class VerifierTask(Task[VerifierTrainConfig]):
    """Mined crops → `VerifierNet` → weighted BCE (face / not)."""

    metric = "val_rejected"
    losses = ("train_loss",)

    def __init__(self, config: VerifierTrainConfig) -> None:
        if not config.train_examples or not config.val_examples:
            raise ConfigError("train_examples and val_examples are required (python -m ferx.train.verify mine)")
        super().__init__(config)

    def setup(self, device: torch.device, rng: Randomness, log: RunLog) -> nn.Module:
        t0 = time.time()
        self.device, self.generator = device, rng.torch
        train = Examples.load(Path(self.config.train_examples))
        self.val = Examples.load(Path(self.config.val_examples))
        self.crops = torch.from_numpy(train.crops)
        self.labels = torch.from_numpy(train.label.astype(np.float32))
        pos = train.label == 1
        w = np.where(pos, 0.5 / max(pos.sum(), 1), 0.5 / max((~pos).sum(), 1))
        w[~pos & (train.presence >= SEEN_PRESENCE)] *= 2.0
        self.weights = torch.from_numpy((w / w.mean()).astype(np.float32))
        log(f"train {len(train)} crops ({int(pos.sum())} faces), val {len(self.val)} "
            f"({int((self.val.label == 1).sum())} faces) ({time.time() - t0:.0f} s to load)")
        return VerifierNet(**self.config.model_options)

    def steps_per_epoch(self) -> int:
        return len(self.crops) // self.config.batch_size

    def batches(self) -> list[torch.Tensor]:
        order = torch.randperm(len(self.crops), generator=self.generator)
        size = self.config.batch_size
        return [order[i * size : (i + 1) * size] for i in range(self.steps_per_epoch())]

    def step(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        x = normalise(self.crops[batch][:, None])
        if self.config.augment:
            x = augment(x, self.generator)
        logits = model(x.to(self.device))
        loss = (F.binary_cross_entropy_with_logits(logits, self.labels[batch].to(self.device), reduction="none")
                * self.weights[batch].to(self.device)).mean()
        return loss, [loss.item()]

    def validate(self, model: nn.Module) -> Validation:
        point = operating_point(predict(model.cpu(), self.val.crops), self.val, self.config.recall)
        model.to(self.device)
        row = {"val_rejected": point["rejected"], "val_threshold": point["threshold"],
               "val_faces_kept": point["faces_kept"], "val_rejected_part": point["rejected_part"],
               "val_rejected_clutter": point["rejected_clutter"]}
        return Validation(row, point)

    def checkpoint_extras(self, model: nn.Module) -> dict[str, Any]:
        return {"model_config": dict(model.config)}  # type: ignore[arg-type]


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror, contrast and brightness, a blur as a small face's crop has, a shift of up to 2 px."""
    n = len(x)
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.6, 1.4, generator=g)
    bright = torch.empty(n, 1, 1, 1).uniform_(-0.25, 0.25, generator=g)
    x = (x * contrast + bright).clamp(-1, 1)
    blur = torch.rand(n, generator=g) < 0.3
    if blur.any():
        small = F.interpolate(x[blur], size=(int(torch.randint(14, 32, (1,), generator=g)),) * 2, mode="area")
        x[blur] = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train(config: VerifierTrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out`; returns `out`."""
    return fit(VerifierTask(config), out, resume=resume, progress=progress)


def load_run_model(run: Path) -> tuple[VerifierNet, VerifierTrainConfig, dict[str, Any]]:
    """best.pt's model, the run's config and its validation record."""
    state = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=False)
    config = from_dict(VerifierTrainConfig, state["config"])
    model = VerifierNet(**state.get("model_config", config.model_options))
    model.load_state_dict(state["model"])
    return model.eval(), config, state["val"]
