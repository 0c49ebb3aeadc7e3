"""Draw the intensity-coded photos and write the coders' copies:
`python data/lfw-au-intensity/make_photos.py --round 1|2|3|4 OUT`.

Writes OUT/photos/<ID>.png (each photo enlarged to 700 px on its longer side, named anonymously: P001 … in
round 1, Q001 … in round 2, R001 … in round 3) and OUT/key.json (id → image, identity, label); `key.json`,
`key-round2.json` and `key-round3.json` here are what this wrote on 2026-12-07. Never a review-sheet photo;
rounds 2–3 never one whose name matches a sheet photo's, round 1 only never one of a sheet photo's dataset
identity (for collection photos the uploader: it drew Jayamadhuri_206 and three facial-expressions_* photos;
kept as drawn so that the key reproduces).
- round 1: photos of data/lfw-au-codes/codes.csv (lfw half A), drawn per label (seed 20261207);
- round 2: lfw half-A photos not in round 1, drawn per label (seed 20261208);
- round 3: every half-A photo in neither earlier round labelled sadness, anger, disgust, fear or surprise with a
  shorter side of at least 100 px, and 10 neutral ones of at least 200 px (seed 20261209);
- round 4: half-A photos in no earlier round, of any label, with a shorter side of at least 100 px, on which the
  shipped analyzer (calibration of commit 51eba62) reads at least one of `ROUND4_AUS` present — the AUs with
  fewer than 10 photos coded and read present after rounds 1–3, which the span fit needs (it uses only photos
  coded *and* read present, so drawing by the reading draws from the population the fit uses) — 120 of them
  (seed 20261210)."""
import argparse
import json
import random
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
LFW = PROJECT.parent / "shared" / "data" / "lfw-expressions"
WANT = {1: dict(sadness=24, anger=22, surprise=20, disgust=18, happiness=16, neutral=10, fear=8, contempt=2),
        2: dict(happiness=36, surprise=24, anger=24, sadness=26, disgust=4, neutral=8, fear=0, contempt=0),
        3: dict(sadness=999, anger=999, disgust=999, fear=999, surprise=999, neutral=10, happiness=0, contempt=0)}
SEED = {1: 20261207, 2: 20261208, 3: 20261209, 4: 20261210}
PREFIX = {1: "P", 2: "Q", 3: "R", 4: "S"}
#: Round 4 draws photos on which one of these is read present, up to `ROUND4_PHOTOS`.
ROUND4_AUS = ("AU9", "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU27")
ROUND4_PHOTOS = 120
#: The least shorter side of a drawn photo (round 3 takes the film stills the earlier rounds left; its
#: neutral photos keep 200 px).
MIN_SIDE = {1: 200, 2: 200, 3: 100, 4: 100}


def candidates(number: int) -> list[tuple[str, str, str]]:
    """(image, identity, label) of every photo the round may draw, in a fixed order."""
    sheet = PROJECT / "docs" / "runs" / "explanation-review-2026-12-06" / "set.txt"
    review = [line.split()[1] for line in sheet.read_text().splitlines() if line.strip() and not line.startswith("#")]
    review_ids = {r.rsplit("_", 1)[0] for r in review}
    if number == 1:
        import pandas as pd

        codes = pd.read_csv(PROJECT / "data" / "lfw-au-codes" / "codes.csv")
        rows = [(r.image, r.identity, r.emotion) for r in codes.itertuples() if r.identity not in review_ids]
    else:
        from ferx.data.readers import open_dataset

        first = {k["image"] for name in ("key.json", "key-round2.json", "key-round3.json")[: number - 1]
                 for k in json.loads((HERE / name).read_text())}
        samples = open_dataset(f"lfw-expressions:{LFW}", "val", partition="halves").samples
        rows = [(s.path.name, s.identity, s.label) for s in samples
                if s.path.name not in first and s.identity not in review_ids and s.path.name.rsplit("_", 1)[0] not in review_ids]
    def side(r: tuple[str, str, str]) -> int:
        return 200 if r[2] == "neutral" and number < 4 else MIN_SIDE[number]

    return [r for r in rows if r[0] not in review and min(Image.open(LFW / "images" / r[0]).size) >= side(r)]


def read_present(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The rows whose photo's first face has one of `ROUND4_AUS` read present by the default analyzer."""
    from ferx import AU_CODES, Analyzer, FrameResult

    analyzer = Analyzer()
    cols = [AU_CODES.index(c) for c in ROUND4_AUS]
    keep = []
    for r, result in zip(rows, analyzer.analyze_many([LFW / "images" / r[0] for r in rows])):
        if isinstance(result, FrameResult) and len(result.faces) and (result.faces.aus[0, cols] >= 1.0).any():
            keep.append(r)
    print(f"{len(keep)} of {len(rows)} candidates read one of {ROUND4_AUS} present")
    return keep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--round", type=int, choices=(1, 2, 3, 4), required=True)
    ap.add_argument("out", type=Path)
    a = ap.parse_args()
    rows = candidates(a.round)
    rng = random.Random(SEED[a.round])
    rng.shuffle(rows)
    chosen, count = [], {}
    if a.round == 4:
        rows = read_present(sorted(rows))
        rng.shuffle(rows)
        chosen = rows[:ROUND4_PHOTOS]
        for r in chosen:
            count[r[2]] = count.get(r[2], 0) + 1
    for r in rows if a.round < 4 else ():
        if count.get(r[2], 0) < WANT[a.round][r[2]]:
            chosen.append(r)
            count[r[2]] = count.get(r[2], 0) + 1
    rng.shuffle(chosen)
    (a.out / "photos").mkdir(parents=True, exist_ok=True)
    key = []
    for i, (image, identity, emotion) in enumerate(chosen, 1):
        pid = f"{PREFIX[a.round]}{i:03d}"
        im = Image.open(LFW / "images" / image).convert("RGB")
        s = 700 / max(im.size)
        im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.LANCZOS).save(a.out / "photos" / f"{pid}.png")
        key.append(dict(id=pid, image=image, identity=identity, emotion=emotion))
    (a.out / "key.json").write_text(json.dumps(key, indent=1))
    print(f"{len(key)} photos: {count}")


if __name__ == "__main__":
    main()
