"""Expression probabilities from AU evidence alone, through the emotion prototypes in `ferx.facs`.

A transparent baseline and the AU-only reference the chain of thought compares a trained classifier
against. For each emotion, evidence = weighted mean of its measured prototype AUs' normalised
intensities minus half the strongest measured AU that argues against it; contempt's evidence is the
one-sidedness of the smile/dimple (`facs.au_evidence`, shared with the explanations). Neutral has a
fixed evidence level: it wins when no emotion shows more. Probabilities are a softmax of
evidence / temperature.
"""

from __future__ import annotations

import numpy as np

from ferx.facs import (
    EVIDENCE_TEMPERATURE,
    EXPRESSIONS,
    NEUTRAL_EVIDENCE,
    ONE_SIDED_AUS,
    au_asymmetry,
    au_evidence as _facs_au_evidence,
    evidence_probabilities,
)
from ferx.stages import EXPRESSION_CLASSIFIERS, StageBase
from ferx.types import Faces


def au_evidence(aus: np.ndarray, blendshapes: np.ndarray | None) -> np.ndarray:
    """(N, 8) evidence per label in EXPRESSIONS order (neutral column 0, filled by the caller): the
    same scoring as the explanations (`facs.au_evidence`), so the two never disagree; AUs graded
    unreliable are no evidence either way."""
    asym = None if blendshapes is None else np.stack([au_asymmetry(n, blendshapes) for n in ONE_SIDED_AUS], 1)
    return _facs_au_evidence(np.nan_to_num(aus, nan=0.0), asym)


@EXPRESSION_CLASSIFIERS.register("au-codebook")
class AUCodebookExpression(StageBase):
    """Scores the eight FER+ labels from AU intensities.

    Args:
        temperature: softmax temperature on the evidence scale (0–1); lower is more decisive
            (default chosen by log-loss on lfw-expressions half A: calibrated probabilities).
        neutral_evidence: evidence level an emotion must exceed to beat neutral.
    """

    needs = frozenset({"aus"})
    provides = frozenset({"expression"})

    labels = EXPRESSIONS

    def __init__(self, temperature: float = EVIDENCE_TEMPERATURE, neutral_evidence: float = NEUTRAL_EVIDENCE) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.neutral_evidence = float(neutral_evidence)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.aus is None:
            raise ValueError("the au-codebook expression scorer needs an AU estimator stage before it")
        probs = evidence_probabilities(au_evidence(faces.aus, faces.blendshapes), self.neutral_evidence,
                                       self.temperature)
        missing = np.isnan(faces.aus).any(axis=1)
        probs[missing] = np.nan
        return faces.with_fields(expression=probs, expression_labels=EXPRESSIONS)
