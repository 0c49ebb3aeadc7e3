"""Small numeric helpers shared by the inference backends (numpy only)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ferx.errors import ModelFileError


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function; the clip keeps np.exp from overflowing on extreme logits."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


#: Input normalisations a model sidecar may state (`"normalise"`), uint8 pixels → model input.
NORMALISATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "x / 127.5 - 1": lambda x: x.astype(np.float32) / np.float32(127.5) - np.float32(1.0),
    "x / 255": lambda x: x.astype(np.float32) / np.float32(255.0),
}


def input_normalisation(meta: dict, where: str) -> Callable[[np.ndarray], np.ndarray]:
    """The normalisation a model's sidecar states (`meta["input"]["normalise"]`), so that inference
    scales pixels the way training did; an unknown one is refused rather than guessed."""
    spec = meta.get("input", {}).get("normalise")
    if spec not in NORMALISATIONS:
        raise ModelFileError(
            f"{where}: the model card states input normalisation {spec!r}; known: {', '.join(map(repr, NORMALISATIONS))}"
        )
    return NORMALISATIONS[spec]
