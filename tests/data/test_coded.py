"""The FACS-coded faces reader, on ckplus-facs and on broken copies."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ferx.data.coded import read_coded_faces
from ferx.data.readers import DatasetError
from tests.conftest import SHARED

CODED = SHARED / "ckplus-facs"


def test_reads_faces_codes_subjects_and_peaks():
    if not CODED.exists():
        pytest.skip("no ckplus-facs")
    data = read_coded_faces(CODED)
    assert len(data.faces) == 519 and data.peaks.sum() == 173 and len(set(data.subjects)) == 59
    assert {f.subject for f in data.faces if f.sequence == "S010_002"} == {"S010"}
    # the README's first row: S010_002 surprise 1_2_5_25_27
    peak = next(f for f in data.faces if f.sequence == "S010_002" and f.peak)
    i = data.faces.index(peak)
    assert [n for n in data.aus if data.code(n)[i]] == [1, 2, 5, 25, 27]
    # every face of a sequence carries the sequence's codes; the peak is its last frame
    frames = [f for f in data.faces if f.sequence == "S010_002"]
    assert sum(f.peak for f in frames) == 1 and max(frames, key=lambda f: f.frame).peak
    with pytest.raises(KeyError, match="AU43"):
        data.code(43)
    assert data.codes.dtype == np.uint8


def test_broken_folders_get_a_specific_error(tmp_path):
    with pytest.raises(DatasetError, match="labels.csv"):
        read_coded_faces(tmp_path)
    (tmp_path / "images" / "x").mkdir(parents=True)
    (tmp_path / "labels.csv").write_text("sequence,subject,AU1\nS1_001,S1,1\n")
    with pytest.raises(DatasetError, match="no PNG"):
        read_coded_faces(tmp_path)
    if CODED.exists():
        shutil.copy(next((CODED / "images").rglob("*.png")), tmp_path / "images" / "x" / "S9_001_00000001.png")
        with pytest.raises(DatasetError, match="S9_001"):
            read_coded_faces(tmp_path)
    (tmp_path / "labels.csv").write_text("sequence,subject,AU1\nS9_001,S9,yes\n")
    with pytest.raises(DatasetError, match="0 or 1"):
        read_coded_faces(tmp_path)
