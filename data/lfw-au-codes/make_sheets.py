"""The contact sheets the photos of codes.csv were coded from (issue 23; validation data only).

    python data/lfw-au-codes/make_sheets.py --round 1 --out DIR    # 92 photos, sheet00.png … + sample.csv
    python data/lfw-au-codes/make_sheets.py --round 2 --out DIR    # 46 more (round 1's sample.csv in DIR)
    python data/lfw-au-codes/make_sheets.py --round 3 --out DIR    # the jaw only, on surprise, fear, anger
    python data/lfw-au-codes/make_sheets.py --round 4 --out DIR    # the eyes only, on happiness and neutral
    python data/lfw-au-codes/make_sheets.py --round 5 --out DIR    # all AUs, mostly sadness, anger, disgust

A seeded, stratified draw of lfw-expressions identity half A (one photo per identity per label, `PER_IDENTITY` in round 5; the
explanation review sheet's photos left out), shuffled so a sheet does not give its labels away; the
largest face cropped with a margin, six to a sheet. Numbers: round 1 from 0, round 2 from 100, round 3 from 200, round 4 from 300, round 5 from 400.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"
REVIEW = ROOT / "docs" / "runs" / "explanation-review-2026-12-06" / "set.txt"
ROUNDS = {1: ({"neutral": 20, "happiness": 16, "surprise": 16, "sadness": 16, "anger": 14, "disgust": 14, "fear": 10,
               "contempt": 4}, 2026_12_07, 0),
          2: ({"surprise": 18, "sadness": 18, "fear": 10, "anger": 8, "disgust": 6}, 2026_12_0702, 100),
          # the jaw only (AU25, AU26, AU27): round 2 left AU27 with 3 clear codes
          3: ({"surprise": 60, "fear": 10, "anger": 20}, 2026_12_0703, 200),
          # the eyes only (AU5, AU43): rounds 1-2 left AU43 with 4 clear codes; laughs and blinks close eyes
          4: ({"happiness": 60, "neutral": 12}, 2026_12_0704, 300),
          # all 15 AUs again, on the labels whose faces move the brows, chin, lip corners and nose
          # (AU2, AU9, AU15, AU17, AU20, AU27 had under 8 clear codes after rounds 1-2)
          5: ({"sadness": 30, "anger": 30, "disgust": 30, "surprise": 16, "fear": 6, "happiness": 10, "neutral": 10},
              2026_12_0705, 400)}
#: Photos per identity per label (1 unless given): after rounds 1-4, half A's remaining sadness, anger
#: and disgust photos are nearly all under "userjhamski", which is not a person but a collection of many
#: people's photos (one photo per identity gave 44 faces in round 5).
PER_IDENTITY = {5: 30}
SAMPLES = {1: "sample.csv", 2: "sample-round2.csv", 3: "sample-round3.csv", 4: "sample-round4.csv",
           5: "sample-round5.csv"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--round", type=int, choices=sorted(ROUNDS), required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from ferx import Analyzer
    from ferx.data.readers import identity_half

    want, seed, first = ROUNDS[args.round]
    args.out.mkdir(parents=True, exist_ok=True)
    skip = {line.split()[1] for line in REVIEW.read_text().splitlines() if line.strip() and not line.startswith("#")}
    for earlier in range(1, args.round):  # the earlier rounds' sample files, in the same folder
        skip |= {r["image"] for r in csv.DictReader(open(args.out / SAMPLES[earlier]))}
    rows = [r for r in csv.DictReader(open(LFW / "labels.csv")) if identity_half(r["identity"]) == "A" and r["image"] not in skip]
    rng = random.Random(seed)
    pick = []
    for label, n in want.items():
        seen: dict[str, int] = {}
        chosen = []
        pool = [r for r in rows if r["emotion"] == label]
        for r in rng.sample(pool, len(pool)):
            if seen.get(r["identity"], 0) < PER_IDENTITY.get(args.round, 1):
                seen[r["identity"]] = seen.get(r["identity"], 0) + 1
                chosen.append(r)
            if len(chosen) == n:
                break
        pick += chosen
    rng.shuffle(pick)
    out = []
    with Analyzer(expression=None, explain=None, aus=None) as analyzer:
        for r in pick:
            img = Image.open(LFW / "images" / r["image"]).convert("RGB")
            faces = analyzer.analyze(LFW / "images" / r["image"]).faces
            if not len(faces):
                continue
            x0, y0, x1, y1 = faces.boxes[int(np.argmax(faces.area))]
            w, h = x1 - x0, y1 - y0
            crop = img.crop((int(x0 - 0.25 * w), int(y0 - 0.45 * h), int(x1 + 0.25 * w), int(y1 + 0.2 * h)))
            out.append((r, crop.resize((320, int(320 * crop.height / crop.width)))))
    with open(args.out / SAMPLES[args.round], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["n", "image", "emotion", "identity"])
        for i, (r, _) in enumerate(out, start=first):
            w.writerow([i, r["image"], r["emotion"], r["identity"]])
    for s in range(0, len(out), 6):
        sheet = Image.new("RGB", (3 * 330, 2 * 440), "white")
        draw = ImageDraw.Draw(sheet)
        for j, (_, c) in enumerate(out[s:s + 6]):
            x, y = (j % 3) * 330, (j // 3) * 440
            sheet.paste(c.crop((0, 0, 320, min(c.height, 410))), (x + 5, y + 25))
            draw.text((x + 8, y + 5), f"#{first + s + j}", fill="black")
        sheet.save(args.out / f"round{args.round}-sheet{s // 6:02d}.png")
    print(f"{len(out)} faces, sheets in {args.out}")


if __name__ == "__main__":
    main()
