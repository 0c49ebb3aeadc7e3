"""The contact sheets the jaw codes of codes.csv were made from (issue 23; calibration data).

    python data/ferplus-au-codes/make_sheets.py --out DIR      # 96 faces, sheet0.png … sheet3.png + sample.csv

A seeded draw of FER+ *training* faces (never Valid or Test, which report the AU-only and decision-rule
figures) that most annotators called surprised (≥ 7 of 10 votes) or afraid (≥ 6): faces with open
mouths, where AU26 and AU27 are told apart. Each 48-px face enlarged to 160 px, 24 to a sheet.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
FERPLUS = ROOT.parent / "shared" / "data" / "ferplus"
SEED, N = 20261207, 96


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = list(csv.reader(open(FERPLUS / "FER2013Train" / "label.csv")))
    # image, box, neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    pool = [r for r in rows if int(r[4]) >= 7 or int(r[8]) >= 6]
    pick = random.Random(SEED).sample(pool, N)
    with open(args.out / "sample.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["n", "image"])
        for i, r in enumerate(pick):
            w.writerow([i, "FER2013Train/" + r[0]])
    for s in range(0, N, 24):
        sheet = Image.new("RGB", (6 * 170, 4 * 190), "white")
        draw = ImageDraw.Draw(sheet)
        for j, r in enumerate(pick[s:s + 24]):
            face = Image.open(FERPLUS / "FER2013Train" / r[0]).convert("RGB").resize((160, 160), Image.BICUBIC)
            x, y = (j % 6) * 170, (j // 6) * 190
            sheet.paste(face, (x + 5, y + 25))
            draw.text((x + 8, y + 5), f"#{s + j}", fill="black")
        sheet.save(args.out / f"sheet{s // 24}.png")
    print(f"{N} faces of {len(pool)}, sheets in {args.out}")


if __name__ == "__main__":
    main()
