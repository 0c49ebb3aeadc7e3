"""The detector's gated finest level against the whole finest level: recall by face size, extra
boxes and detector time, per `gate_threshold`, on one split's composed photos.

Images (`ferx.train.verify.scenes`, `ferx.data.mosaic`): lfw-expressions faces of the split's
identities pasted on views of the split's face-free scikit-image photos — "small groups": 640×480
with 3–8 faces of 24–64 px; "groups": 1920×1080 with 12 faces of 24–200 px; "scenes": the detection
benchmark's scenes (2–6 faces of 32–120 px at 640×480, and enlarged to 12 Mpx); one face of
~220 px in a 640×480 frame ("single"); and face-free views at 640×480. The raw detector only (no
mesh, no verifier): what the gate changes. A face is found at IoU ≥ 0.4. Time is the detector's
`process` on one thread, median per image. Choose on `--split val`; `--split test` is for the
report.

    python benchmarks/bench_detector_gate.py [--split val] [--gates none,0.05,0.1,0.2] [--images 20]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"
BUCKETS = ((24, 32), (32, 48), (48, 80), (80, 1000))


def build(split: str, n: int, seed: int) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    from PIL import Image

    from ferx import Analyzer
    from ferx.data.mosaic import compose, single_faces
    from ferx.data.readers import identity_split
    from ferx.train.verify.data import photo_view
    from ferx.train.verify.scenes import cases, split_photos

    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    paths = [LFW / "images" / r["image"] for r in rows if identity_split(r["identity"]) == split]
    with Analyzer(aus=None, expression=None, explain=None) as a:
        refs = single_faces(a, paths, 80)
    photos = split_photos(split)
    rng = np.random.default_rng([seed, ("val", "test").index(split)])

    def group(size: tuple[int, int], faces: int, widths: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        base = photo_view(photos[int(rng.integers(len(photos)))], rng, max(size))
        base = np.asarray(Image.fromarray(base).resize(size, Image.BICUBIC))
        sel = rng.choice(len(refs), faces, replace=False)
        sizes = [int(w) for w in rng.integers(widths[0], widths[1] + 1, faces)]
        m = compose([refs[j][0] for j in sel], [refs[j][1] for j in sel], sizes, size, rng,
                    base=Image.fromarray(base), skip_unplaceable=True, feather=0.05)
        return m.image, m.boxes

    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {
        "single 640x480": [group((640, 480), 1, (200, 240)) for _ in range(n)],
        "small groups 640x480": [group((640, 480), int(rng.integers(3, 9)), (24, 64)) for _ in range(n)],
        "groups 1920x1080": [group((1920, 1080), 12, (24, 200)) for _ in range(n)],
        "face-free 640x480": [(photo_view(photos[i % len(photos)], rng, 640), np.zeros((0, 4), np.float32))
                              for i in range(n)],
    }
    scenes = cases(refs, split, n_scenes=max(2, n // 4), n_free=0, n_native=0, seed=seed)
    out["scenes 640x480 + enlarged"] = [(c.image, c.boxes) for c in scenes]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--gates", default="none,0.05,0.1,0.2")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ratio", type=float, default=1.5)
    ap.add_argument("--sets", default="")
    args = ap.parse_args()

    from ferx import Faces
    from ferx.data.mosaic import match
    from ferx.detect.blazeface import BlazeFaceDetector

    sets = build(args.split, args.images, args.seed)
    gates = [None if g == "none" else float(g) for g in args.gates.split(",")]
    print(f"split {args.split}; raw BlazeFace detector, one thread; found = IoU >= 0.4; "
          f"recall by face width {', '.join(f'{a}-{b - 1}' for a, b in BUCKETS)} px")
    print("| set | gate | images | faces | found | " + " | ".join(f"{a}–{b - 1 if b < 1000 else ''}" for a, b in BUCKETS)
          + " | extra boxes | ms/image (median) |")
    print("|---|---|---|---|---|" + "---|" * len(BUCKETS) + "---|---|")
    for name, items in sets.items():
        if args.sets and not any(k in name for k in args.sets.split(",")):
            continue
        for gate in gates:
            with BlazeFaceDetector(gate_threshold=gate, gate_ratio=args.ratio, threads=1) as det:
                det.process(items[0][0], Faces.empty())  # build the first interpreters outside the clock
                widths, hits, extra, times = [], [], 0, []
                for image, boxes in items:
                    t = time.perf_counter()
                    faces = det.process(image, Faces.empty())
                    times.append((time.perf_counter() - t) * 1e3)
                    assigned, _ = match(boxes, faces.boxes)
                    widths.extend((boxes[:, 2] - boxes[:, 0]).tolist())
                    hits.extend((assigned >= 0).tolist())
                    extra += len(faces) - int((assigned >= 0).sum())
            w, h = np.array(widths), np.array(hits, bool)
            cells = []
            for a, b in BUCKETS:
                sel = (w >= a) & (w < b)
                cells.append(f"{h[sel].mean():.3f} ({int(h[sel].sum())}/{int(sel.sum())})" if sel.any() else "–")
            found = f"{h.mean():.4f}" if len(h) else "–"
            print(f"| {name} | {gate or 'whole'} | {len(items)} | {len(h)} | {found} | " + " | ".join(cells)
                  + f" | {extra} | {np.median(times):.1f} |")


if __name__ == "__main__":
    main()
