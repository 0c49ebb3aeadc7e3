"""`ferx.train.aus.absence`: per AU, the clear codes on photos coded by eye that the pipeline reads as
confidently absent, written into a calibration (`python -m ferx.train.aus absence`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferx.aus.calibrated import AUCalibration
from tests.conftest import LFW


@pytest.fixture()
def table(tmp_path):
    """Three photos coded by eye here (2026-12-07, looked at): Kaye_Young_0001 laughs (AU12 and AU25
    clear), Jessica_Alba_0001 smiles broadly (AU12, AU25 clear), Hu_Jintao_0013 is at rest (AU12 absent)."""
    if not (LFW / "images" / "Kaye_Young_0001.jpg").is_file():
        pytest.skip("no lfw-expressions")
    path = tmp_path / "codes.csv"
    path.write_text("image,identity,AU12,AU25\nKaye_Young_0001.jpg,Kaye_Young,2,2\n"
                    "Jessica_Alba_0001.jpg,Jessica_Alba,2,2\nHu_Jintao_0013.jpg,Hu_Jintao,0,0\n")
    return path


def test_the_missed_laugh_is_counted_and_written(table, tmp_path, capsys):
    from ferx.train.aus.__main__ import main

    calibration = tmp_path / "au-facs.json"
    shipped = AUCalibration.load("au-facs").to_dict()
    shipped.pop("absence_checks", None)
    calibration.write_text(json.dumps(shipped))
    assert main(["absence", "--calibration", str(calibration), "--photo-codes", str(table),
                 "--images", str(LFW / "images"), "--write"]) == 0
    written = AUCalibration.load(calibration)
    # the laugh's AU12 reads under 0.5 (a miss), the broad smile's does not; both mouths read open
    assert written.absence_checks == {12: (1, 2), 25: (0, 2)}
    assert "AU12" in capsys.readouterr().out
    assert written.profile().unit(12).absence_check == (1, 2)


def test_a_missing_calibration_or_image_folder_is_one_line(tmp_path, capsys, table):
    """A researcher's tryout: a missing calibration file, codes table or image folder ended in a traceback."""
    from ferx.train.aus.__main__ import main

    import ferx

    shipped = str(Path(ferx.__file__).parent / "assets" / "models" / "au-facs.json")
    assert main(["absence", "--calibration", str(tmp_path / "none.json"), "--photo-codes", str(table)]) == 2
    assert "AU calibration" in capsys.readouterr().err
    assert main(["absence", "--calibration", shipped, "--photo-codes", str(tmp_path / "none.csv")]) == 2
    assert "no such codes table" in capsys.readouterr().err
    assert main(["absence", "--calibration", shipped, "--photo-codes", str(table), "--images", str(tmp_path)]) == 2
    assert "no image" in capsys.readouterr().err


def test_the_shipped_calibrations_carry_their_absence_checks():
    """Both shipped calibrations were checked on the coded photos (docs/aus.md, "Absence on photos"): the
    default never calls AU12, AU9 or AU20 absent (AU6 again since 2026-12-08: with its earlier intensity scale
    back, 2 of 32 clear codes read at or below the confident-absence level, not the 5 of the steeper scale); the
    mesh estimator never AU4, AU6, AU9, AU15 or AU20."""
    facs_profile = AUCalibration.load("au-facs").profile()
    mesh_profile = AUCalibration.load("au-facs-mesh").profile()
    assert {n for n in facs_profile.absence_checks if not facs_profile.unit(n).absence_reliable
            and facs_profile.unit(n).presence_reliable} == {9, 12, 20}
    assert {n for n in mesh_profile.absence_checks if not mesh_profile.unit(n).absence_reliable
            and mesh_profile.unit(n).presence_reliable} == {4, 6, 9, 15, 20}
