"""Face detection on composed group photos: recall by face size, false positives, box IoU.

Group images are built from lfw-expressions photos (ferx.data.mosaic): each photo's face box comes
from running the pipeline on the photo alone at full size; the photo is cut around the face and
pasted at a random free spot of a 1920x1080 textured background so that its face box has a chosen
width. A prediction matches a pasted face at IoU >= 0.4 (one-to-one, greedy). Photos used as
references are the odd-numbered identities; the pasted faces come from the same pool, since this
measures detection, not recognition.

    python benchmarks/bench_detection.py [--images 30] [--faces 12] [--min-size 24] [--max-size 200]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from ferx import Analyzer, load_image
from ferx.data.mosaic import compose, match

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"
BUCKETS = ((24, 32), (32, 48), (48, 80), (80, 128), (128, 201))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--faces", type=int, default=12)
    ap.add_argument("--min-size", type=int, default=24)
    ap.add_argument("--max-size", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    refs = []
    with Analyzer() as analyzer:
        for row in rows[::9]:
            img = load_image(LFW / "images" / row["image"])
            faces = analyzer.analyze(img).faces
            if len(faces) == 1:
                refs.append((img, faces.boxes[0]))
        sizes_all, hit_all, ious, false_pos, n_pred, times = [], [], [], 0, 0, []
        for _ in range(args.images):
            sel = rng.choice(len(refs), args.faces, replace=False)
            sizes = rng.integers(args.min_size, args.max_size + 1, size=args.faces)
            m = compose([refs[j][0] for j in sel], [refs[j][1] for j in sel], list(sizes), (1920, 1080), rng)
            r = analyzer.analyze(m.image)
            assigned, iou = match(m.boxes, r.faces.boxes)
            sizes_all.extend(sizes.tolist())
            hit_all.extend((assigned >= 0).tolist())
            ious.extend(iou[assigned >= 0].tolist())
            false_pos += len(r.faces) - int((assigned >= 0).sum())
            n_pred += len(r.faces)
            times.append(r.timings_ms["total"])
    sizes_a, hits = np.array(sizes_all), np.array(hit_all)
    print(f"{len(refs)} reference photos; {args.images} images of 1920x1080 with {args.faces} faces each "
          f"({len(hits)} faces, widths {args.min_size}–{args.max_size} px)")
    print(f"recall {hits.mean():.3f} | false positives {false_pos} of {n_pred} predictions "
          f"(precision {1 - false_pos / max(n_pred, 1):.3f}) | mean IoU of matches {np.mean(ious):.3f} | "
          f"median {np.median(times):.0f} ms per image")
    print("| face width (px) | faces | recall |")
    print("|---|---|---|")
    for lo, hi in BUCKETS:
        m = (sizes_a >= lo) & (sizes_a < hi)
        if m.any():
            print(f"| {lo}–{hi - 1} | {m.sum()} | {hits[m].mean():.3f} |")


if __name__ == "__main__":
    main()
