"""Expression probabilities from AU evidence alone, through the emotion prototypes in `ferx.facs`.

A transparent baseline and the AU-only reference the chain of thought compares a trained classifier
against. For each emotion, evidence = weighted mean of its measured prototype AUs' normalised
intensities minus half the strongest measured AU that argues against it; contempt's evidence is the
one-sidedness of the smile/dimple (`facs.au_evidence`, shared with the explanations). Neutral has a
fixed evidence level: it wins when no emotion shows more. Probabilities are a softmax of
evidence / temperature. The measured AUs, the neutral level and the temperature are the AU
estimator's (`Faces.au_profile`), chosen on validation data for that estimator.
"""

from __future__ import annotations

import numpy as np

from ferx.facs import (
    EXPRESSIONS,
    AUProfile,
    one_sidedness,
    au_evidence as _facs_au_evidence,
    evidence_probabilities,
)
from ferx.stages import EXPRESSION_CLASSIFIERS, StageBase
from ferx.types import Faces


def au_evidence(aus: np.ndarray, blendshapes: np.ndarray | None, profile: AUProfile | None = None) -> np.ndarray:
    """(N, 8) evidence per label in EXPRESSIONS order (neutral column 0, filled by the caller): the
    same scoring as the explanations (`facs.au_evidence`), so the two never disagree; AUs graded
    unreliable are no evidence either way."""
    clean = np.nan_to_num(aus, nan=0.0)
    asym = None if blendshapes is None else one_sidedness(clean, blendshapes)
    return _facs_au_evidence(clean, asym, profile)


@EXPRESSION_CLASSIFIERS.register("au-codebook")
class AUCodebookExpression(StageBase):
    """Scores the eight FER+ labels from AU intensities.

    Args:
        temperature: softmax temperature on the evidence scale (0–1); lower is more decisive.
            None (default): the AU estimator's, chosen by log-loss on lfw-expressions half A
            (calibrated probabilities).
        neutral_evidence: evidence level an emotion must exceed to beat neutral; None: the AU
            estimator's.
    """

    needs = frozenset({"aus"})
    provides = frozenset({"expression"})

    labels = EXPRESSIONS

    def __init__(self, temperature: float | None = None, neutral_evidence: float | None = None) -> None:
        if temperature is not None and temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = None if temperature is None else float(temperature)
        self.neutral_evidence = None if neutral_evidence is None else float(neutral_evidence)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.aus is None:
            raise ValueError("the au-codebook expression scorer needs an AU estimator stage before it")
        profile = faces.grading
        probs = evidence_probabilities(
            au_evidence(faces.aus, faces.blendshapes, profile),
            profile.neutral_evidence if self.neutral_evidence is None else self.neutral_evidence,
            profile.temperature if self.temperature is None else self.temperature,
        )
        missing = np.isnan(faces.aus).any(axis=1)
        probs[missing] = np.nan
        return faces.with_fields(expression=probs, expression_labels=EXPRESSIONS)
