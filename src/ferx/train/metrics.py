"""Losses and metrics of AU-guided training (Belharbi et al., FG 2024).

loss = cross-entropy (hard or soft targets) + λ · mean over guided samples of (1 − cos(attention,
heatmap)), the heatmap average-pooled to the attention map's size. CAM-COS and ATT-COS are the mean
cosine between the true class's CAM (negative part clipped) / the attention map and the heatmap,
over test images that have a heatmap.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of −Σ_c w_c t_c log p_c; targets (B, C) are distributions (one-hot for hard labels)."""
    logp = F.log_softmax(logits, dim=1)
    w = targets if class_weights is None else targets * class_weights[None, :]
    return -(w * logp).sum(dim=1).mean()


def soften(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(log p / T): a teacher's distribution at temperature T (log-probabilities are logits up
    to a per-row constant, so models that output only probabilities can teach too)."""
    return torch.softmax(log_probs / temperature, dim=1)


def distillation_loss(student_logits: torch.Tensor, teacher_soft: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al. (2015): T² · mean over the batch of KL(teacher_T ‖ softmax(student / T)); the T²
    keeps its gradients on the scale of the hard-label term as T changes."""
    log_q = F.log_softmax(student_logits / temperature, dim=1)
    p = teacher_soft.clamp(min=1e-12)
    return temperature**2 * (teacher_soft * (p.log() - log_q)).sum(dim=1).mean()


def map_cosine(maps: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
    """(B,) cosine between maps (B, h, w) and heatmaps (B, H, W) average-pooled to (h, w)."""
    target = F.adaptive_avg_pool2d(heatmaps[:, None].float(), maps.shape[-2:])[:, 0]
    return F.cosine_similarity(maps.flatten(1), target.flatten(1), dim=1, eps=1e-8)


def alignment_loss(attention: torch.Tensor, heatmaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of 1 − cos(attention, heatmap) over masked samples (0 with a graph when none)."""
    if not bool(mask.any()):
        return attention.sum() * 0.0
    return (1.0 - map_cosine(attention[mask], heatmaps[mask])).mean()


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1 (over classes present in y_true), per-class recall, confusion matrix."""
    n = len(labels)
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    present = cm.sum(1) > 0
    tp = np.diag(cm).astype(float)
    recall = np.divide(tp, cm.sum(1), out=np.zeros(n), where=cm.sum(1) > 0)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(n), where=cm.sum(0) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0)
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_recall": {lab: float(recall[i]) for i, lab in enumerate(labels) if present[i]},
        "confusion": cm.tolist(),
        "labels": list(labels),
        "n": int(cm.sum()),
    }
