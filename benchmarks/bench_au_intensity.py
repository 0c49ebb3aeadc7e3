"""AU intensities against photos coded for intensity (`data/lfw-au-intensity`, issue 23).

Per AU, on the intensity-coded photos (each coded by two coders; `read_intensity_codes`): how many photos
the coders see it on (mean band ≥ A) and ferx reads present, the mean absolute band difference between
ferx's band (the final output: facial logic and reading rules applied) and the coders' mean band on those
photos, ferx's mean bias (its band minus theirs), and how often the two coders agree within one band where
either saw the AU. The calibrations compared are measured the way the calibration is fitted (the dataset
analyzer of `ferx.train.dataset_analyzer`, one face per photo).

The shipped calibration's mid points were fitted on `codes.csv`, so its figures there are in-sample; the
identity-wise cross-validated figures of the fit are in `calibrate`'s record (docs/aus.md, "Intensity").

    python benchmarks/bench_au_intensity.py                                   # the shipped calibration
    python benchmarks/bench_au_intensity.py --calibration a.json --calibration b.json   # side by side
    python benchmarks/bench_au_intensity.py --codes data/lfw-au-intensity/codes-round3.csv   # round 3's photos
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data"))


def coder_agreement(table: Path) -> dict[str, float]:
    """Per AU column: the share of photos where either coder saw the AU on which both are within one band."""
    import csv

    from ferx.data.coded import BAND_NUMBERS

    by_photo: dict[str, list[dict[str, str]]] = {}
    with table.open(newline="") as f:
        for r in csv.DictReader(f):
            by_photo.setdefault(r["image"], []).append(r)
    columns = [c for c in next(iter(by_photo.values()))[0] if c.startswith("AU")]
    out = {}
    for au in columns:
        pairs = [(a[au].strip().upper(), b[au].strip().upper()) for rows in by_photo.values() if len(rows) == 2
                 for a, b in [rows] if "?" not in (a[au], b[au]) and (a[au] or b[au])]
        if pairs:
            out[au] = float(np.mean([abs(BAND_NUMBERS.get(x, 0) - BAND_NUMBERS.get(y, 0)) <= 1 for x, y in pairs]))
    return out


def main() -> None:
    from ferx.aus.calibrated import AUCalibration
    from ferx.data.coded import read_intensity_codes
    from ferx.facs import AU_CODES
    from ferx.train.aus.calibration import measure_images
    from ferx.train.aus.intensity import band_numbers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codes", type=Path, default=ROOT / "data" / "lfw-au-intensity" / "codes.csv")
    ap.add_argument("--calibration", action="append", default=None, help="a shipped name or a JSON path; repeat")
    ap.add_argument("--cache", type=Path, help="keep the measurements here")
    args = ap.parse_args()
    names = args.calibration or ["au-facs"]
    codes = read_intensity_codes(args.codes, SHARED / "lfw-expressions" / "images")
    agree = coder_agreement(args.codes)
    print(f"## AU bands against the intensity codes — {time.strftime('%Y-%m-%d %H:%M')}; {args.codes} "
          f"({len(codes.paths)} photos, {int(codes.coders.max())} coders each)")
    print("| calibration | AU | coded present | also read present | band error | bias (ferx − coders) | coders within one band |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        cal = AUCalibration.load(name)
        faces = measure_images(list(codes.paths), cal.measures, cal.heads, progress=False, cache=args.cache)
        read = np.full((len(codes.paths), len(AU_CODES)), np.nan)
        read[faces.found] = cal.intensities(faces.values[faces.found])
        for number in codes.aus:
            code = f"AU{number}"
            if code not in AU_CODES:
                continue
            target = codes.bands[:, codes.aus.index(number)]
            value = read[:, AU_CODES.index(code)]
            with np.errstate(invalid="ignore"):
                coded = np.isfinite(target) & (target >= 1)
                both = coded & (value >= 1)
            if not coded.any():
                continue
            diff = band_numbers(value[both]) - target[both]
            error, bias = (f"{np.abs(diff).mean():.2f}", f"{diff.mean():+.2f}") if both.any() else ("–", "–")
            print(f"| {name} | {code} | {int(coded.sum())} | {int(both.sum())} | {error} | {bias} | "
                  f"{agree.get(code, float('nan')):.2f} |")


if __name__ == "__main__":
    main()
