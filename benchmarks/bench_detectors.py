"""The raw detectors side by side: recall by face width, extra boxes and time per image on the
validation composites of issue 25 (lfw-expressions faces of val identities pasted on val face-free
scikit-image photos, `probe_fullrange_detector.composites`) and on face-free views of those photos.

    python benchmarks/bench_detectors.py [--yunet "model_min=24;model_min=32,score_threshold=0.5"] [--threads 1]

Each `;`-separated YuNet setting is a set of `ferx.detect.yunet.YuNetDetector` options. Found = IoU ≥
0.4 with the pasted face's box (the box the default analyzer gave the face in its own photo). The
raw detector only: the mesh and the verifier, which remove most extra boxes, are not run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from probe_fullrange_detector import BUCKETS, composites  # noqa: E402


def face_free(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from ferx.train.verify.scenes import scene, split_photos

    photos, rng = split_photos("val"), np.random.default_rng([seed, 1])
    return [scene([], photos, (640, 480), 0, (24, 64), rng) for _ in range(n)]


def options(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (kv.split("=") for kv in text.split(",") if kv)}


def row(name: str, label: str, det, items) -> str:
    from ferx import Faces
    from ferx.data.mosaic import match

    widths, hits, extra, times = [], [], 0, []
    for image, boxes in items:
        t = time.perf_counter()
        found = det.process(image, Faces.empty()).boxes
        times.append((time.perf_counter() - t) * 1e3)
        if len(boxes):
            assigned, _ = match(boxes, found)
            widths.extend((boxes[:, 2] - boxes[:, 0]).tolist())
            hits.extend((assigned >= 0).tolist())
            extra += len(found) - int((assigned >= 0).sum())
        else:
            extra += len(found)
    w, h = np.array(widths), np.array(hits, bool)
    cells = []
    for a, b in BUCKETS:
        m = (w >= a) & (w < b)
        cells.append(f"{int(h[m].sum())}/{int(m.sum())}" if m.any() else "–")
    found = f"{h.mean():.4f}" if len(h) else "–"
    return f"| {name} | {label} | {found} | " + " | ".join(cells) + f" | {extra} | {np.median(times):.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--yunet", default="", help="';'-separated YuNet option sets (empty: its defaults)")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from ferx.detect.blazeface import BlazeFaceDetector
    from ferx.detect.yunet import YuNetDetector

    sets = composites(args.images, args.seed)
    sets["face-free 640x480"] = face_free(args.images, args.seed)
    dets = [("blazeface pyramid", BlazeFaceDetector(threads=args.threads))]
    for text in args.yunet.split(";"):
        dets.append((f"yunet {text or '(defaults)'}", YuNetDetector(threads=args.threads, **options(text))))
    print(f"{args.threads} thread(s); found = IoU ≥ 0.4; raw detector")
    print("| set | detector | found | " + " | ".join(f"{a}–{b - 1 if b < 1000 else ''}" for a, b in BUCKETS)
          + " | extra boxes | ms/image (median) |")
    print("|---|---|---|" + "---|" * len(BUCKETS) + "---|---|")
    for name, items in sets.items():
        for label, det in dets:
            det.process(items[0][0], __import__("ferx").Faces.empty())  # warm-up
            print(row(name, label, det, items), flush=True)


if __name__ == "__main__":
    main()
