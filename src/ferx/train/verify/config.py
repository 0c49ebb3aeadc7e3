"""The face verifier's training configuration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ferx.train.runconfig import REFUSE, RunConfig


@dataclass
class VerifierTrainConfig(RunConfig):
    """One training run of the face verifier (optimiser, schedule and run keys: `RunConfig`).

    Attributes:
        train_examples, val_examples: the mined crops (`python -m ferx.train.verify mine`).
        model_options: `ferx.train.verify.model.VerifierNet` settings (channel widths).
        recall: the validation faces the chosen threshold keeps (the metric is the share of the
            mesh-confirmed non-faces rejected at that recall).
        augment: flips, brightness/contrast, blur, one-pixel shifts.
    """

    train_examples: str = ""
    val_examples: str = ""
    model_options: dict[str, Any] = field(default_factory=dict)
    recall: float = 0.995
    augment: bool = True
    epochs: int = 12
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 0.003
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.3
    threads: int = 1

    resume_policy: ClassVar[dict[str, str]] = {
        **RunConfig.resume_policy,
        "train_examples": REFUSE, "val_examples": REFUSE, "model_options": REFUSE, "recall": REFUSE, "augment": REFUSE,
    }
    path_keys: ClassVar[tuple[str, ...]] = (*RunConfig.path_keys, "train_examples", "val_examples")
