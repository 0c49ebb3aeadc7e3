"""Small numeric helpers shared by the inference backends (numpy only)."""

from __future__ import annotations

import math
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


#: decimals of every probability ferx stores (JSON, the table, explanations)
PROBABILITY_DECIMALS = 4


def stored_probability(p: float) -> float:
    """A probability as ferx stores it."""
    return round(float(p), PROBABILITY_DECIMALS)


def percent(p: float) -> str:
    """A probability as a whole percentage, formatted from the stored value: the text, the report,
    the page and the terminal print the same number for the same probability (two roundings — 3
    decimals, then 0 — once gave "98%" in a text beside 97 % in the report)."""
    # halves round up, as the page's JavaScript (Math.round) does, not to even as format() does
    return str(math.floor(100 * stored_probability(p) + 0.5))


#: decimals of every AU intensity ferx stores (JSON, the table, explanations)
INTENSITY_DECIMALS = 4


def stored_intensity(v: float) -> float:
    """An AU intensity as ferx stores it; its FACS band is that of this value (`facs.intensity_band`)."""
    return round(float(v), INTENSITY_DECIMALS)


def shown_intensity(v: float) -> str:
    """An AU intensity to one decimal beside its band letter, rounded down so that the number shown lies
    in the band shown: 3.4994 (band C) shows as "3.4", not as "3.5", where band D begins (a tryout found
    "3.5 C" in the report beside "severe" in the text)."""
    return f"{math.floor(stored_intensity(v) * 10 + 1e-6) / 10:.1f}"


def input_normalisation(meta: dict, where: str) -> Callable[[np.ndarray], np.ndarray]:
    """The normalisation a model's sidecar states (`meta["input"]["normalise"]`), so that inference
    scales pixels the way training did; an unknown one is refused rather than guessed."""
    spec = meta.get("input", {}).get("normalise")
    if spec not in NORMALISATIONS:
        raise ModelFileError(
            f"{where}: the model card states input normalisation {spec!r}; known: {', '.join(map(repr, NORMALISATIONS))}"
        )
    return NORMALISATIONS[spec]
