"""Expression probabilities from AU evidence alone, through the emotion prototypes in `ferx.facs`.

A transparent baseline and the AU-only reference the chain of thought compares a trained classifier
against. For each emotion, evidence = weighted mean of its prototype AUs' normalised intensities
minus half the strongest AU that argues against it; contempt's evidence is the one-sidedness of the
smile/dimple. Neutral has a fixed evidence level: it wins when no emotion shows more. Probabilities
are a softmax of evidence / temperature.
"""

from __future__ import annotations

import numpy as np

from ferx.facs import EMOTION_PROTOTYPES, EXPRESSIONS, au_asymmetry, au_index
from ferx.stages import EXPRESSION_CLASSIFIERS, StageBase
from ferx.types import Faces


def au_evidence(aus: np.ndarray, blendshapes: np.ndarray | None) -> np.ndarray:
    """(N, 8) evidence per label in EXPRESSIONS order (neutral column 0, filled by the caller)."""
    a = np.clip(aus / 5.0, 0.0, 1.0)
    out = np.zeros((aus.shape[0], len(EXPRESSIONS)), np.float32)
    for j, emotion in enumerate(EXPRESSIONS):
        proto = EMOTION_PROTOTYPES.get(emotion)
        if proto is None:
            continue
        if proto.unilateral:
            if blendshapes is None:
                continue
            weights = np.array([proto.supports[n] for n in proto.unilateral], np.float32)
            asym = np.stack([au_asymmetry(n, blendshapes) / 5.0 for n in proto.unilateral], 1)
            out[:, j] = asym @ weights / weights.sum()
            continue
        numbers = list(proto.supports)
        weights = np.array([proto.supports[n] for n in numbers], np.float32)
        support = a[:, [au_index(n) for n in numbers]] @ weights / weights.sum()
        against = a[:, [au_index(n) for n in proto.opposes]].max(axis=1) if proto.opposes else 0.0
        out[:, j] = support - 0.5 * against
    return out


@EXPRESSION_CLASSIFIERS.register("au-codebook")
class AUCodebookExpression(StageBase):
    """Scores the eight FER+ labels from AU intensities.

    Args:
        temperature: softmax temperature on the evidence scale (0–1); lower is more decisive.
        neutral_evidence: evidence level an emotion must exceed to beat neutral.
    """

    needs = frozenset({"aus"})
    provides = frozenset({"expression"})

    labels = EXPRESSIONS

    def __init__(self, temperature: float = 0.05, neutral_evidence: float = 0.15) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.neutral_evidence = float(neutral_evidence)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        if faces.aus is None:
            raise ValueError("the au-codebook expression scorer needs an AU estimator stage before it")
        evidence = au_evidence(faces.aus, faces.blendshapes)
        evidence[:, 0] = self.neutral_evidence
        logits = evidence / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        missing = np.isnan(faces.aus).any(axis=1)
        probs[missing] = np.nan
        return faces.with_fields(expression=probs, expression_labels=EXPRESSIONS)
