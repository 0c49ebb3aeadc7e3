"""The FACS-coded faces reader, on ckplus-facs and on broken copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ferx.data.coded import PhotoCodes, read_coded_faces, read_intensity_codes, read_photo_codes
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


PHOTO_CODES = Path(__file__).resolve().parents[2] / "data" / "lfw-au-codes" / "codes.csv"


def test_reads_the_photo_codes_table():
    if not (SHARED / "lfw-expressions").exists():
        pytest.skip("no lfw-expressions")
    codes = read_photo_codes(PHOTO_CODES, SHARED / "lfw-expressions" / "images")
    assert len(codes.paths) == 255 and codes.aus[:3] == (1, 2, 4) and 43 in codes.aus
    # Tiger Woods' hand covers his mouth: its mouth AUs are not codable, his brows are
    i = [p.name for p in codes.paths].index("Tiger_Woods_0023.jpg")
    use, _ = codes.usable(12)
    assert not use[i] and np.isnan(codes.levels[i, codes.aus.index(12)]) and codes.usable(1)[0][i]
    # doubtful codes are left out; a jaw coded AU27 is no AU26 absence
    use26, _ = codes.usable(26)
    stretched = codes.levels[:, codes.aus.index(27)] == 2
    assert stretched.sum() == 5 and not use26[stretched].any()
    assert not codes.usable(1)[0][codes.levels[:, 0] == 1].any()
    with pytest.raises(KeyError, match="AU14"):
        codes.usable(14)


def test_two_photo_codes_tables_read_as_one():
    """The FER+ jaw table codes AU25-AU27 only: joined to the lfw table, its rows are unseen for the
    other AUs and the jaw AUs count the clear codes of both."""
    if not (SHARED / "lfw-expressions").exists() or not (SHARED / "ferplus").exists():
        pytest.skip("no lfw-expressions or ferplus")
    lfw = read_photo_codes(PHOTO_CODES, SHARED / "lfw-expressions" / "images")
    fer = read_photo_codes(PHOTO_CODES.parents[1] / "ferplus-au-codes" / "codes.csv", SHARED / "ferplus")
    both = PhotoCodes.concat([lfw, fer])
    assert fer.aus == (25, 26, 27) and both.aus == lfw.aus and len(both.paths) == len(lfw.paths) + len(fer.paths) == 351
    assert np.isnan(both.levels[len(lfw.paths):, both.aus.index(1)]).all() and not both.usable(1)[0][len(lfw.paths):].any()
    for n in (25, 26, 27):
        assert both.usable(n)[1][both.usable(n)[0]].sum() == sum(t.usable(n)[1][t.usable(n)[0]].sum() for t in (lfw, fer))
    assert fer.usable(27)[1].sum() >= 8  # the clear mouth stretches the lfw photos lacked (5 there)


def test_a_broken_photo_codes_table_gets_a_specific_error(tmp_path):
    with pytest.raises(DatasetError, match="no such codes table"):
        read_photo_codes(tmp_path / "codes.csv", tmp_path)
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "codes.csv").write_text("image,identity,AU1\na.jpg,A,3\n")
    with pytest.raises(DatasetError, match="0, 1, 2 or empty"):
        read_photo_codes(tmp_path / "codes.csv", tmp_path)
    (tmp_path / "codes.csv").write_text("image,identity,AU1\nb.jpg,B,1\n")
    with pytest.raises(DatasetError, match="no image"):
        read_photo_codes(tmp_path / "codes.csv", tmp_path)
    (tmp_path / "codes.csv").write_text("image,AU1\na.jpg,1\n")
    with pytest.raises(DatasetError, match="identity"):
        read_photo_codes(tmp_path / "codes.csv", tmp_path)


INTENSITY_CODES = PHOTO_CODES.parents[1] / "lfw-au-intensity" / "codes.csv"


def test_reads_the_intensity_codes_table():
    """224 photos, each coded by two coders; a photo's band is the mean of the coders who judged it."""
    if not (SHARED / "lfw-expressions").exists():
        pytest.skip("no lfw-expressions")
    codes = read_intensity_codes(INTENSITY_CODES, SHARED / "lfw-expressions" / "images")
    assert len(codes.paths) == 224 and codes.aus[0] == 1 and codes.aus[-1] == 43 and codes.coders.max() == 2
    # Al_Sharpton_0005: both coders AU25 C, AU26 C, AU43 B; AU1 empty / A; AU10 empty / B
    i = [p.name for p in codes.paths].index("Al_Sharpton_0005.jpg")
    band = dict(zip(codes.aus, codes.bands[i]))
    assert (band[25], band[26], band[43], band[1], band[10], band[12]) == (3.0, 3.0, 2.0, 0.5, 1.0, 0.0)
    # a region a coder could not judge ("?") is left out of the mean, not read as absent
    unjudged = codes.coders < 2
    assert unjudged.any() and (np.isnan(codes.bands) == (codes.coders == 0)).all()


def test_a_broken_intensity_codes_table_gets_a_specific_error(tmp_path):
    with pytest.raises(DatasetError, match="no such intensity codes table"):
        read_intensity_codes(tmp_path / "codes.csv", tmp_path)
    (tmp_path / "a.jpg").write_bytes(b"")
    table = tmp_path / "codes.csv"
    for text, message in (("image,identity,coder,AU1\na.jpg,A,h1,F\n", "band A–E"),
                          ("image,identity,coder,AU1\na.jpg,A,h1,B\na.jpg,A,h1,C\n", "twice"),
                          ("image,identity,coder,AU1\nb.jpg,B,h1,B\n", "no image"),
                          ("image,identity,AU1\na.jpg,A,B\n", "coder"),
                          ("image,identity,coder,AU1\na.jpg,A,,B\n", "must not be empty"),
                          ("image,identity,coder,AU1\na.jpg,A,h1,B\na.jpg,Z,h2,C\n", "two identities|earlier row"),
                          ("image,identity,coder,AU1\n", "no coded photos"),
                          ("image,identity,coder,AU1,AU01\na.jpg,A,h1,B,B\n", "twice")):
        table.write_text(text)
        with pytest.raises(DatasetError, match=message):
            read_intensity_codes(table, tmp_path)
    table.write_text("image,identity,coder,AU1\na.jpg,A,h1,b\na.jpg,A,h2,?\n")
    codes = read_intensity_codes(table, tmp_path)
    assert codes.bands.tolist() == [[2.0]] and codes.coders.tolist() == [[1]]


def test_rounds_of_intensity_codes_read_as_one(tmp_path):
    from ferx.data.coded import IntensityCodes

    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "r1.csv").write_text("image,identity,coder,AU1\na.jpg,A,h1,B\na.jpg,A,h2,\n")
    (tmp_path / "r2.csv").write_text("image,identity,coder,AU1\nb.jpg,B,g1,D\nb.jpg,B,g2,C\n")
    one, two = (read_intensity_codes(tmp_path / f, tmp_path) for f in ("r1.csv", "r2.csv"))
    both = IntensityCodes.concat([one, two])
    assert [p.name for p in both.paths] == ["a.jpg", "b.jpg"] and both.bands[:, 0].tolist() == [1.0, 3.5]
    assert both.seen[:, 0].tolist() == [1, 2] and both.identities.tolist() == ["A", "B"]
    with pytest.raises(DatasetError, match="more than one"):
        IntensityCodes.concat([one, one])
