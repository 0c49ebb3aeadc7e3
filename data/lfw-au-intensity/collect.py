"""Merge the coders' files into codes.csv:
`python data/lfw-au-intensity/collect.py [--first-round N] OUT.csv KEY.json=CODES_DIR [KEY2.json=CODES_DIR2 ...]`
(one pair per round, numbered from N, default 1: `codes.csv` is rounds 1–2, `codes-round3.csv` was written with
`--first-round 3`).

KEY.json maps the anonymous photo ids the coders saw (P001 …) to lfw-expressions image names; CODES_DIR
holds one `<coder>.csv` per coder (id, AU…, quality, note), as the brief asked."""
import csv
import json
import sys
from pathlib import Path

AUS = ["AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23",
       "AU24", "AU25", "AU26", "AU27", "AU43"]


def round_rows(number, key, codes_dir):
    rows = []
    for f in sorted(codes_dir.glob("*.csv")):
        seen = set()
        for r in csv.DictReader(f.open(newline="")):
            pid = (r.get("id") or "").strip()
            if pid not in key or pid in seen:
                print(f"{f.name}: {'unknown' if pid not in key else 'repeated'} id {pid!r} left out", file=sys.stderr)
                continue
            seen.add(pid)
            cells = {au: (r.get(au) or "").strip().upper() for au in AUS}
            bad = {au: v for au, v in cells.items() if v not in ("", "?", "A", "B", "C", "D", "E")}
            if bad:
                raise SystemExit(f"{f.name} {pid}: cells {bad}")
            rows.append({"image": key[pid]["image"], "identity": key[pid]["identity"], "coder": f.stem, **cells,
                         "quality": (r.get("quality") or "").strip(), "round": number})
    return rows


args = sys.argv[1:]
first = 1
if args[0] == "--first-round":
    first, args = int(args[1]), args[2:]
rows = []
for number, pair in enumerate(args[1:], start=first):
    key_path, _, codes_dir = pair.partition("=")
    rows += round_rows(number, {k["id"]: k for k in json.loads(Path(key_path).read_text())}, Path(codes_dir))
rows.sort(key=lambda r: (r["image"], r["coder"]))
per_photo = {}
for r in rows:
    per_photo[r["image"]] = per_photo.get(r["image"], 0) + 1
if any(n != 2 for n in per_photo.values()):
    print(f"photos without exactly two coders: {sorted(k for k, n in per_photo.items() if n != 2)}", file=sys.stderr)
with open(args[0], "w", newline="") as out:
    w = csv.DictWriter(out, ["image", "identity", "coder", *AUS, "quality", "round"])
    w.writeheader()
    w.writerows(rows)
print(f"{len(rows)} codings of {len({r['image'] for r in rows})} photos by {len({r['coder'] for r in rows})} coders")
