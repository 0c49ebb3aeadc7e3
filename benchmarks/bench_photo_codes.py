"""An AU calibration's readings against photos coded by eye (`data/lfw-au-codes`): per AU coded, the
clear / absent codes, the AUC of the readings' scores, F1 of "present" (band A or more), and how often A
is reached on photos coded without the AU and missed on clear ones.

    python benchmarks/bench_photo_codes.py [--calibration au-facs|PATH] [--table data/lfw-au-codes/codes.csv] [--rows 138:]

`--rows START:END` scores a slice of the table's rows (`138:` = round 5, the photos coded after the
calibration of 2026-12-07 03:00 UTC was fitted; `codes-jaw.csv` and `codes-eyes.csv` are held out from
every fit). The largest face the default analyzer finds in each photo (no verifier), as the calibration
measures them; `--cache DIR` keeps the measurements.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calibration", default="au-facs")
    ap.add_argument("--table", type=Path, default=ROOT / "data" / "lfw-au-codes" / "codes.csv")
    ap.add_argument("--rows", default=":")
    ap.add_argument("--cache", type=Path)
    args = ap.parse_args()

    from ferx.aus.calibrated import AUCalibration
    from ferx.data.coded import read_photo_codes
    from ferx.train.aus.calibration import candidate_measures, measure_images, score_photos

    cal = AUCalibration.load(args.calibration)
    codes = read_photo_codes(args.table, LFW / "images")
    start, _, end = args.rows.partition(":")
    mask = np.zeros(len(codes.paths), bool)
    mask[slice(int(start) if start else None, int(end) if end else None)] = True
    codes = codes.rows(mask)
    faces = measure_images(list(codes.paths), candidate_measures(cal.heads is not None), cal.heads, progress=False,
                           cache=args.cache)
    ok = faces.found
    intensities = np.full((len(ok), len(cal.readings)), np.nan)
    scores = intensities.copy()
    intensities[ok] = cal.intensities(faces.rows(ok).columns(cal.measures))
    scores[ok] = cal.scores(faces.rows(ok).columns(cal.measures))
    print(f"{args.table.name} rows {args.rows}: {len(ok)} photos, {int(ok.sum())} with a face; calibration {args.calibration}")
    print("| AU | clear / absent | AUC | F1 | read on absent | missed |")
    print("|---|---|---|---|---|---|")
    for code, s in score_photos(intensities, codes, scores).items():
        print(f"| {code} | {s['positives']} / {s['absent']} | {s['auc']:.2f} | {s['f1']:.2f} | "
              f"{s['read_on_absent']:.2f} | {s['missed_on_present']:.2f} |")


if __name__ == "__main__":
    main()
