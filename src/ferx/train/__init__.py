"""Training and calibration: the models and readings ferx ships, and their data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer


def dataset_analyzer() -> Analyzer:
    """The analyzer that finds the faces of a face dataset for ferx's shipped files (the AU calibration,
    the classifiers' photo crops): faces and landmarks only, without the face verifier (these are face
    datasets, and the shipped files were measured before it existed: it would drop a few real faces)
    and without the tight-crop retry's tighter boxes (2026-12-07, for the same reason), so that the
    files' commands reproduce them."""
    from ferx.pipeline import Analyzer

    return Analyzer(verifier=None, aus=None, expression=None, explain=None, tight_crop_boxes=False)
