"""The AU calibration's use of real photos coded by eye (ferx.train.aus.calibration, issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferx.train.aus.calibration import (
    MIN_PHOTO_CODES,
    _photo_caps,
    best_f1_threshold,
    best_mean_f1_threshold,
    detection_scores,
)
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]


def _scores(seed: int, centre_absent: float, centre_present: float, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3 == 0
    return np.where(y, rng.normal(centre_present, 0.6, n), rng.normal(centre_absent, 0.6, n)), y


def test_the_mean_f1_threshold_of_one_set_is_its_own_best_f1_threshold():
    s, y = _scores(0, 0.0, 2.0)
    assert best_mean_f1_threshold([(s, y)]) == best_f1_threshold(s, y)
    assert best_mean_f1_threshold([(s, y), (s, y)]) == best_f1_threshold(s, y)


def test_two_sets_share_a_threshold_that_no_set_loses_much_on():
    """Posed peaks (strong occurrences) want a low threshold, real photos (mild ones among shouts) a
    higher one: the shared threshold lies between the two, and its mean F1 is the best there is."""
    posed, photos = _scores(1, 0.0, 3.0), _scores(2, 1.0, 2.5)
    t = best_mean_f1_threshold([posed, photos])
    own = sorted([best_f1_threshold(*posed), best_f1_threshold(*photos)])
    assert own[0] - 0.5 <= t <= own[1] + 0.5
    mean_f1 = lambda v: np.mean([detection_scores(s >= v, y)["f1"] for s, y in (posed, photos)])  # noqa: E731
    grid = np.linspace(-1, 4, 201)
    assert mean_f1(t) >= max(mean_f1(v) for v in grid) - 1e-9


def test_photo_grades_only_ever_lower_a_grade():
    enough = {"positives": MIN_PHOTO_CODES, "absent": 50}
    caps = _photo_caps({10: "weak"}, {"AU4": {**enough, "auc": 0.79}, "AU12": {**enough, "auc": 0.95},
                                      "AU10": {**enough, "auc": 0.86}, "AU2": {"positives": 7, "absent": 100, "auc": 0.6}})
    assert caps == {4: "weak", 12: "good", 10: "weak"}  # AU10 keeps the lower cap; AU2 has too few clear codes


@pytest.mark.slow
def test_the_shipped_calibration_is_what_its_command_fits(tmp_path):
    """Refitting with the command in au-facs.json's info (coded faces, reference faces, the two photo
    codes tables, the four rounds of intensity codes) gives the shipped readings: measures, thresholds, mid
    points and grade caps."""
    from ferx.train.aus.calibration import fit

    if not (SHARED / "ckplus-facs").exists() or not (SHARED / "lfw-expressions").exists():
        pytest.skip("no ckplus-facs or lfw-expressions")
    shipped = json.loads((ROOT / "src" / "ferx" / "assets" / "models" / "au-facs.json").read_text())
    calibration, record = fit(SHARED / "ckplus-facs", SHARED / "lfw-expressions", "au-facs", "au-heads", progress=False,
                              photo_codes=[ROOT / "data" / "lfw-au-codes" / "codes.csv",
                                           (ROOT / "data" / "ferplus-au-codes" / "codes.csv", SHARED / "ferplus")],
                              intensity_codes=[ROOT / "data" / "lfw-au-intensity" / name
                                               for name in ("codes.csv", "codes-round3.csv", "codes-round4.csv")])
    got = calibration.to_dict()
    for a, b in zip(got["readings"], shipped["readings"], strict=True):
        assert a["code"] == b["code"] and list(a["measures"]) == b["measures"], (a["code"], a["measures"], b["measures"])
        assert a["threshold"] == pytest.approx(b["threshold"], abs=1e-6) and a["mid"] == pytest.approx(b["mid"], abs=1e-6)
    assert got["grade_caps"] == shipped["grade_caps"]
    assert record["photos"]["photos"] == 255 + 96
    changed = {f["code"] for f in record["intensity_codes"]["spans"] if f["changed"]}
    assert changed == {"AU1", "AU2", "AU5", "AU24", "AU43"}
    # AU6, taken from rounds 1–2 before: fitted without round 3 its span reads round 3's film stills worse
    au6 = next(f for f in record["intensity_codes"]["spans"] if f["code"] == "AU6")
    assert not au6["changed"] and au6["rounds"]["3"][2] > au6["rounds"]["3"][1]


def _random_faces(names, rng: np.random.Generator, n: int):
    """`n` synthetic measured faces: every measure standard-normal noise, all found."""
    from ferx.train.aus.calibration import MeasuredFaces

    return MeasuredFaces(names, rng.normal(size=(n, len(names))).astype(np.float32), np.ones(n, bool),
                         np.zeros((n, 52), np.float32), np.zeros((n, 478, 3), np.float16))


def test_the_photos_choose_measures_only_where_the_coded_faces_cannot():
    """AU26 with 5 coded occurrences (too few to choose among its candidates) takes the measure the
    coded photos separate best; AU12, which the coded faces can choose for, keeps their choice where the
    photos' preferred measure would cost it more than `PHOTO_OVERRULE_COST` on the coded faces (here
    h:AU12 is noise there)."""
    from ferx.data.coded import PhotoCodes
    from ferx.train.aus.calibration import CodedPhotos, Standardisation, candidate_measures, fit_readings

    names = candidate_measures(True)
    rng = np.random.default_rng(0)

    def faces(n: int):
        return _random_faces(names, rng, n)

    coded, reference, photos = faces(120), faces(200), faces(90)
    col = names.index
    ck12, ck26 = np.arange(120) % 4 == 0, np.arange(120) % 24 == 0  # 30 and 5 coded occurrences
    coded.values[ck12, col("bs:mouthSmile")] += 3.0
    coded.values[ck26, col("g:jaw_drop")] += 3.0
    ph12, ph26 = np.arange(90) % 3 == 0, np.arange(90) % 3 == 1  # 30 clear codes each, 60 absent
    photos.values[ph12, col("h:AU12")] += 3.0
    photos.values[ph26, col("g:lips_apart")] += 3.0
    codes = PhotoCodes(tuple(Path(f"p{i}.jpg") for i in range(90)), np.array([f"id{i}" for i in range(90)]), (12, 26),
                       np.stack([np.where(ph12, 2.0, 0.0), np.where(ph26, 2.0, 0.0)], axis=1))
    neutral = np.arange(200) % 2 == 0
    readings = {r.code: r for r in fit_readings(coded, {12: ck12, 26: ck26}, reference, neutral,
                                                Standardisation.fit(reference, neutral), True, CodedPhotos(photos, codes))}
    assert readings["AU26"].measures == ("g:lips_apart",)
    assert readings["AU12"].measures == ("bs:mouthSmile",)


def test_photo_codes_tables_on_the_command_line():
    """--photo-codes TABLE (lfw-expressions images) or TABLE=IMAGES, repeated."""
    from ferx.train.aus.__main__ import _tables
    from ferx.train.aus.calibration import photo_tables

    assert _tables(None) is None
    got = _tables(["data/lfw-au-codes/codes.csv", "data/ferplus-au-codes/codes.csv=../shared/data/ferplus"])
    assert got == [(Path("data/lfw-au-codes/codes.csv"), None),
                   (Path("data/ferplus-au-codes/codes.csv"), Path("../shared/data/ferplus"))]
    assert photo_tables(got) == got and photo_tables(Path("t.csv")) == [(Path("t.csv"), None)] and photo_tables(None) == []


def test_a_missing_codes_table_fails_before_anything_is_measured(tmp_path):
    from ferx.data.readers import DatasetError
    from ferx.train.aus.calibration import fit

    with pytest.raises(DatasetError, match="no such codes table"):
        fit(tmp_path / "no-coded", tmp_path / "no-reference", "au-facs", None, progress=False,
            photo_codes=[(tmp_path / "missing.csv", tmp_path)])


def _overrule_case(coded_shift: dict[str, float], photo_shift: dict[str, float], number: int = 4,
                   others: dict[int, dict[str, float]] | None = None):
    """Readings fitted on synthetic coded faces and photos where AU `number` is coded on a quarter of
    the faces and a third of the photos; `*_shift` adds to a measure's value where the AU is present.
    `others`: AUs coded on the same faces (not on the photos), with their coded faces' shifts."""
    from ferx.data.coded import PhotoCodes
    from ferx.train.aus.calibration import CodedPhotos, Standardisation, candidate_measures, fit_readings

    names = candidate_measures(True)
    rng = np.random.default_rng(1)

    def faces(n: int):
        return _random_faces(names, rng, n)

    coded, reference, photos = faces(160), faces(200), faces(120)
    ck, ph = np.arange(160) % 4 == 0, np.arange(120) % 3 == 0
    for m, d in [*coded_shift.items(), *((m, d) for shift in (others or {}).values() for m, d in shift.items())]:
        coded.values[ck, names.index(m)] += d
    for m, d in photo_shift.items():
        photos.values[ph, names.index(m)] += d
    codes = PhotoCodes(tuple(Path(f"p{i}.jpg") for i in range(120)), np.array([f"id{i}" for i in range(120)]),
                       (number,), np.where(ph, 2.0, 0.0)[:, None])
    neutral = np.arange(200) % 2 == 0
    present = {number: ck, **{n: ck for n in (others or {})}}
    return {r.code: r.measures for r in fit_readings(coded, present, reference, neutral,
                                                     Standardisation.fit(reference, neutral), True, CodedPhotos(photos, codes))}


def test_the_photos_overrule_the_coded_faces_choice_only_by_a_clear_margin():
    """`_photo_overrule`: the coded faces choose AU4's brow-to-lid gap; photos where only the image head
    separates brow lowering move the reading to the head when the head costs the coded faces little,
    not when it costs them much, and not where the photos' gain is small."""
    from ferx.train.aus.calibration import PHOTO_OVERRULE_COST, PHOTO_OVERRULE_GAIN

    assert (PHOTO_OVERRULE_GAIN, PHOTO_OVERRULE_COST) == (0.05, 0.03)
    # coded faces: the gap separates perfectly, the head nearly as well; photos: only the head does
    assert _overrule_case({"-g:brow_lid_gap": 6.0, "h:AU4": 5.0}, {"h:AU4": 3.0})["AU4"] == ("h:AU4",)
    # the head is noise on the coded faces: overruling would cost them far more than 0.03 AUC
    assert _overrule_case({"-g:brow_lid_gap": 6.0}, {"h:AU4": 3.0})["AU4"] == ("-g:brow_lid_gap",)
    # the photos separate with the gap almost as well as with the head: no clear gain, no overrule
    assert _overrule_case({"-g:brow_lid_gap": 6.0, "h:AU4": 5.0},
                          {"h:AU4": 3.0, "-g:brow_lid_gap": 3.0})["AU4"] == ("-g:brow_lid_gap",)


def test_the_photos_never_overrule_an_au_a_coding_rule_binds_or_take_another_aus_measure():
    """AU25 is bound to AU24, AU26 and AU27 by coding rules: its measure stays the coded faces' choice
    however the photos separate. AU15 may not take `g:lip_corner_drop` while AU12 reads the same distance
    as `-g:lip_corner_drop` (here the coded faces choose it for AU12); where AU12 reads mouthSmile, it may."""
    assert _overrule_case({"g:lips_apart": 6.0, "h:AU25": 5.0}, {"h:AU25": 3.0}, number=25)["AU25"] == ("g:lips_apart",)
    au15 = {"bs:mouthFrown": 6.0, "g:lip_corner_drop": 5.0}
    free = _overrule_case(au15, {"g:lip_corner_drop": 3.0}, 15, {12: {"bs:mouthSmile": 6.0}})
    assert free["AU12"] == ("bs:mouthSmile",) and free["AU15"] == ("g:lip_corner_drop",)
    taken = _overrule_case(au15, {"g:lip_corner_drop": 3.0}, 15, {12: {"-g:lip_corner_drop": 6.0}})
    assert taken["AU12"] == ("-g:lip_corner_drop",) and taken["AU15"] == ("bs:mouthFrown",)



def test_intensity_presence_without_intensity_codes_is_a_usage_error(tmp_path, capsys):
    from ferx.train.aus.__main__ import main

    code = main(["calibrate", "--coded", str(tmp_path), "--reference", str(tmp_path), "--out", str(tmp_path / "c.json"),
                 "--intensity-presence"])
    assert code == 2 and "--intensity-presence needs --intensity-codes" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
