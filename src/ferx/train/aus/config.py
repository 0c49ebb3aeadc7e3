"""The AU heads' training configuration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ferx.train.runconfig import APPLY, REFUSE, RunConfig


@dataclass
class AUTrainConfig(RunConfig):
    """One training run of the AU heads (the optimiser, schedule and run keys: `RunConfig`).

    Attributes:
        ferplus: the FER+ folder (FER2013Train/…); required.
        cache_dir: the faces as the analyzer reads them (landmarks, mesh measures) and the prepared
            crops, masks and targets.
        architecture, model_options: see `ferx.train.aus.model.AUHeadNet`.
        teacher: an AU calibration read by the mesh alone (a shipped name such as "au-facs-mesh",
            or a JSON path), or "" for none. Each head AU whose reading there measured at least
            `teacher_min_auc` against FACS codes learns that reading (a movement) instead of the
            expression prior (`ferx.train.aus.data`).
        teacher_min_auc: see `teacher`.
        prior_weight: weight of the co-occurrence prior terms.
        augment: horizontal flips (image and masks together).
        max_train, max_eval: first N faces only (smoke tests); 0 = all.
    """

    ferplus: str = ""
    cache_dir: str = "runs/cache/au-heads"
    architecture: str = "au-heads"
    model_options: dict[str, Any] = field(default_factory=dict)
    teacher: str = ""
    teacher_min_auc: float = 0.9
    prior_weight: float = 0.1
    augment: bool = True
    max_train: int = 0
    max_eval: int = 0
    epochs: int = 4
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 0.003
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.3
    threads: int = 1

    resume_policy: ClassVar[dict[str, str]] = {
        **RunConfig.resume_policy,
        "ferplus": REFUSE, "architecture": REFUSE, "model_options": REFUSE, "teacher": REFUSE,
        "teacher_min_auc": REFUSE, "prior_weight": REFUSE, "augment": REFUSE, "max_train": REFUSE,
        "max_eval": REFUSE,
        "cache_dir": APPLY,  # prepared tensors, keyed by their inputs
    }
    path_keys: ClassVar[tuple[str, ...]] = (*RunConfig.path_keys, "ferplus", "cache_dir")
