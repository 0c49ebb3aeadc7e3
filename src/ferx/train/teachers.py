"""Trained expression classifiers as frozen teachers, shared by the trainers (distillation).

A teacher is a classifier training run folder (its best.pt) or an ONNX classifier (a shipped name or
NAME.onnx). The classifier trainer distils from teachers on its training crops, the one-pass
detector trainer on the faces of its mosaics. This module imports only the model registry and the
harness, so trainers that use it still never import each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ferx.errors import ConfigError
from ferx.train.harness import load_best, normalise
from ferx.train.models import create_model


class Crops(Protocol):
    """What a teacher reads: uint8 crops (N, 1, 48, 48) and the label order wanted back
    (`ferx.train.data.CropTensors` and `PhotoCrops` both qualify)."""

    images: torch.Tensor
    label_set: tuple[str, ...]


def load_classifier_run(run: Path, device: torch.device | None = None) -> tuple[nn.Module, dict[str, Any], tuple[str, ...]]:
    """A classifier run's best checkpoint in eval mode, its saved config (a mapping) and its label order."""
    state = load_best(run, "classifier", device)
    config = state["config"]
    model = create_model(config.get("architecture", "resnet-fer"), num_classes=len(state["label_set"]),
                         **(config.get("model_options") or {}))
    model.load_state_dict(state["model"])
    return model.eval(), config, tuple(state["label_set"])


@torch.no_grad()
def batch_logits(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 512) -> torch.Tensor:
    """(N, C) logits of an eval-mode model on uint8 crops (N, 1, 48, 48), on the CPU."""
    model.eval()
    out = [model(normalise(images[i : i + batch]).to(device))["logits"].cpu() for i in range(0, len(images), batch)]
    return torch.cat(out) if out else torch.zeros((0, getattr(model, "num_classes", 0)))



@torch.no_grad()
def teacher_log_probs(teacher: str, crops: Crops, device: torch.device) -> torch.Tensor:
    """(N, C) log-probabilities of a teacher on un-augmented crops, in the crops' label order: a
    training run folder (best.pt) or an ONNX classifier (shipped name or NAME.onnx)."""
    path = Path(teacher)
    if path.is_dir():
        model, _, labels = load_classifier_run(path, device)
        logp = torch.log_softmax(batch_logits(model.to(device), crops.images, device), 1)
    else:
        import onnxruntime as ort

        from ferx.expression.onnx_classifier import model_files
        from ferx.numeric import input_normalisation

        onnx_path, meta = model_files(teacher)
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        norm = input_normalisation(meta, str(onnx_path))
        labels = tuple(meta["labels"])
        x = crops.images.numpy()
        p = np.concatenate([sess.run(["probs"], {"image": norm(x[i : i + 256])})[0] for i in range(0, len(x), 256)])
        logp = torch.from_numpy(np.log(np.clip(p, 1e-12, None))).float()
    missing = sorted(set(crops.label_set) - set(labels))
    if missing:
        raise ConfigError(f"teacher {teacher}: has no output for labels {missing}")
    return logp[:, [list(labels).index(lab) for lab in crops.label_set]]


def ensemble_distributions(teachers: list[str], crops: Crops, device: torch.device,
                           temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The teachers' mean distribution at `temperature` (the distillation target) and at T = 1 (whose
    argmax is the ensemble's label), both (N, C) in the crops' label order."""
    from ferx.train.metrics import soften

    logps = [teacher_log_probs(t, crops, device) for t in teachers]
    return (torch.stack([soften(lp, temperature) for lp in logps]).mean(0),
            torch.stack(logps).exp().mean(0))
