"""The default AU readings against real photos coded by eye (`data/lfw-au-codes`, 255 lfw-expressions
half-A photos, coded from contact sheets before any AU output was read; docs/aus.md).

The codes set the thresholds of the AUs they score with at least 8 clear codes each way, so these are
in-sample figures for the operating points (the identity-wise cross-validated ones are in docs/aus.md),
and for the measures of AU10 and AU26, which the photos choose because the FACS-coded faces have too few
occurrences to; the FACS-coded faces choose every other measure. Bounds sit between the figures
measured with the photos (2026-12-07) and those of the calibration fitted on the coded faces alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferx.data.coded import read_photo_codes
from ferx.train.aus.calibration import roc_auc
from tests.conftest import LFW, lfw_rows

CODES = Path(__file__).resolve().parents[2] / "data" / "lfw-au-codes" / "codes.csv"


@pytest.fixture(scope="module")
def photos(analyzer):
    lfw_rows()  # skips without the data
    codes = read_photo_codes(CODES, LFW / "images")
    aus, found = [], []
    for path in codes.paths:
        faces = analyzer.analyze(path).faces
        found.append(len(faces) > 0)
        aus.append(dict(zip(faces.au_codes, faces.aus[int(faces.largest_rows(1)[0])].tolist())) if len(faces) else {})
    return codes, aus, np.array(found)


def _read(photos, number):
    codes, aus, found = photos
    use, present = codes.usable(number)
    use &= found
    value = np.array([a.get(f"AU{number}", np.nan) for a in aus])
    return value[use], present[use]


def test_every_coded_photo_has_a_face(photos):
    assert photos[2].all()


@pytest.mark.parametrize("number", [1, 4, 5, 6, 10, 12, 15, 25])
def test_readings_rank_clear_codes_above_absent_ones(photos, number):
    value, present = _read(photos, number)
    assert present.sum() >= 8 and roc_auc(value, present) >= 0.75


def test_cheek_raises_on_real_photos_are_read(photos):
    """AU6: CK+'s posed squints set a threshold that missed 62 % of the first 21 clear cheek raises here
    (34 % of 32 now)."""
    value, present = _read(photos, 6)
    assert np.mean(value[present] < 1.0) <= 0.45 and np.mean(value[~present] >= 1.0) <= 0.05


def test_upper_lip_raises_are_not_read_on_most_relaxed_lips(photos):
    """AU10: read at A on 38 % of the photos coded without it with mouthUpperUp and CK+'s threshold (12 %
    now, read from the upper lip's gap to the nose and its image head)."""
    value, present = _read(photos, 10)
    assert np.mean(value[~present] >= 1.0) <= 0.2


def test_clear_jaw_drops_read_as_au26(analyzer):
    """Held out (data/lfw-au-codes/codes-jaw.csv: 59 photos coded for the jaw only, used by no fit and
    no choice): most clear jaw drops coded without AU27 read AU26. Measured 2026-12-07: 25 % with AU27
    thresholded on CK+'s posed surprise, 42 % with AU26 read from lips_apart and its head and AU27's
    threshold set on photo codes (53 % read AU27 — a strict xfail until then), 58 % (AU27 33 %) once
    an AU27 read only at A is scored as the jaw drop it is (`trace_stretches_as_drops`)."""
    lfw_rows()
    codes = read_photo_codes(CODES.with_name("codes-jaw.csv"), LFW / "images")
    use26, drop = codes.usable(26)
    stretched = codes.levels[:, codes.aus.index(27)] > 0
    rows = np.flatnonzero(use26 & drop & ~stretched)
    assert len(rows) >= 20
    read = []
    for i in rows:
        faces = analyzer.analyze(codes.paths[i]).faces
        k = int(faces.largest_rows(1)[0])
        read.append(faces.aus[k, list(faces.au_codes).index("AU26")] >= 1.0)
    assert np.mean(read) >= 0.5
