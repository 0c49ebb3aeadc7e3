"""One-pass detector (VSS neck, CSP neck) against the two-stage pipeline, on the same test mosaics.

Prints, per system: face AP@0.5 and AP@0.5:0.95 (class-agnostic), expression mAP@0.5 and
@0.5:0.95 (mean over the labels present), precision / recall / label accuracy at the paper's
operating point (face score ≥ 0.5, NMS 0.3), parameters, multiply–accumulates at 640×640, and
images per second at 640×640; then milliseconds per 640×640 frame against the number of faces in
it (1, 4, 16, 32), to show where one pass pays off; then real photographs, unmodified: the
lfw-expressions test photos (one face each; reference box = the two-stage pipeline's, label = the
dataset's) and ferx's bundled astronaut portrait — faces found, false boxes, labels.

Test mosaics: the `test` split of the training config's data (640×640; scenes of whole photos and
face-free photographs, and pasted faces; lfw-expressions test identities and FER+ test images;
see ferx.onepass.data). The two-stage
pipeline is ferx's default (BlazeFace pyramid → face mesh confirmation → AU-guided classifier;
AUs and explanations off, as they do not change the detections); its detection is the box with
score = detector score, and for expression AP score = detector score × the label's probability.
All systems get the grey mosaic as RGB and use 2 threads.

    python benchmarks/bench_onepass.py --vss src/ferx/assets/models/onepass-nano-vss.onnx \
        --csp runs/onepass-csp/export/onepass-nano-csp.onnx --data configs/onepass-vss.yaml \
        [--also "LABEL=other.onnx"] [--limit 300] [--frames 5] [--out docs/runs/onepass-bench.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ferx import Analyzer
from ferx.config import from_dict, load_yaml
from ferx.data.mosaic import compose
from ferx.facs import EXPRESSIONS
from ferx.onepass.data import face_refs, load_box_cache, load_split
from ferx.onepass.evaluate import Prediction, evaluate
from ferx.onepass.stage import OnnxDetector
from ferx.onepass.train import DetectorTrainConfig

FACE_COUNTS = (1, 4, 16, 32)


def rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(grey)[..., None], 3, axis=2)


def run_onepass(path: str, images: np.ndarray, threads: int) -> tuple[list[Prediction], float]:
    det = OnnxDetector(path, threads=threads)
    preds, times = [], []
    for img in images:
        t = time.perf_counter()
        preds.append(Prediction(*det.predict(rgb(img), conf=0.01, nms_iou=0.3)))
        times.append(time.perf_counter() - t)
    return preds, float(np.median(times))


def run_two_stage(images: np.ndarray) -> tuple[list[Prediction], float]:
    preds, times = [], []
    with Analyzer(aus=None, explain=None) as a:
        for img in images:
            t = time.perf_counter()
            f = a.analyze(rgb(img)).faces
            times.append(time.perf_counter() - t)
            probs = f.expression if f.expression is not None else np.zeros((len(f), len(EXPRESSIONS)))
            preds.append(Prediction(f.boxes, f.scores, np.nan_to_num(probs)))
    return preds, float(np.median(times))


def real_photos(cfg: DetectorTrainConfig, onnx: dict[str, str], threads: int) -> dict[str, dict]:
    """One-pass models on whole, unmodified photographs at their recorded default threshold.

    lfw-expressions test-identity photos (mostly 350×350 close-ups, one face filling most of the
    frame): found = a box with IoU ≥ 0.5 to the pipeline's box; every other box is false; label
    accuracy over found faces, against the dataset's label. The two-stage pipeline's label accuracy
    on the same photos is the baseline (its boxes are the reference, so only its labels are scored).
    Astronaut: the two-stage pipeline's single face as reference.
    """
    from PIL import Image

    from ferx.boxes import box_iou
    from ferx.cli import demo_image

    cache = load_box_cache(cfg.data.box_cache)
    lfw, _ = face_refs(cfg.data, "test", cache)
    photos = [(np.asarray(Image.open(r.path).convert("L")), np.array([r.box]), r.label) for r in lfw]
    astro = np.asarray(Image.open(demo_image()).convert("RGB"))
    out: dict[str, dict] = {}
    with Analyzer(aus=None, explain=None) as a:
        right = 0
        for grey, _, label in photos:
            f = a.analyze(rgb(grey)).faces
            right += int(len(f) == 1 and f.expression is not None and int(np.argmax(f.expression[0])) == label)
        astro_ref = a.analyze(astro).faces.boxes
        out["two-stage pipeline"] = {"photos": len(photos), "label_accuracy": right / len(photos)}
    for name, path in onnx.items():
        det = OnnxDetector(path, threads=threads)
        conf = float(det.meta.get("defaults", {}).get("conf", 0.5))
        found = false = right = 0
        preds, gts, labels = [], [], []
        for grey, ref, label in photos:
            b, sc, pr = det.predict(grey, conf=0.01, nms_iou=0.3)
            preds.append(Prediction(b, sc, pr))
            gts.append(ref.astype(np.float32))
            labels.append(np.array([label]))
            keep = sc >= conf
            b, pr = b[keep], pr[keep]
            iou = box_iou(b.astype(np.float64), ref.astype(np.float64))[:, 0] if len(b) else np.zeros(0)
            hit = np.flatnonzero(iou >= 0.5)
            if len(hit):
                found += 1
                best = hit[np.argmax(iou[hit])]
                right += int(pr[best].argmax() == label)
            false += len(b) - min(len(hit), 1)
        rep = evaluate(preds, gts, labels, EXPRESSIONS, conf=conf)
        b, sc, _ = det.predict(astro, conf=conf, nms_iou=0.3)
        iou = box_iou(b.astype(np.float64), astro_ref.astype(np.float64)) if len(b) and len(astro_ref) else np.zeros((len(b), 1))
        hits = iou.max(1) >= 0.5 if len(b) else np.zeros(0, bool)
        out[name] = {
            "photos": len(photos), "conf": conf, "found": found / len(photos), "false_per_photo": false / len(photos),
            "label_accuracy_of_found": right / max(found, 1), "face_ap50": rep["face_ap50"],
            "expression_map50": rep["expression_map50"],
            "astronaut": {"boxes": int(len(b)), "face_found": bool(hits.any()), "false_boxes": int((~hits).sum()),
                          "face_score": float(sc[hits].max()) if hits.any() else None,
                          "top_false_score": float(sc[~hits].max()) if (~hits).any() else None},
        }
    return out


def speed_frames(cfg: DetectorTrainConfig, frames: int) -> dict[int, list[np.ndarray]]:
    """Per face count, `frames` 640×640 grey frames of lfw-expressions test faces (60–80 px wide)."""
    from PIL import Image

    cache = load_box_cache(cfg.data.box_cache)
    lfw, _ = face_refs(cfg.data, "test", cache)
    rng = np.random.default_rng(11)
    out: dict[int, list[np.ndarray]] = {}
    for n in FACE_COUNTS:
        out[n] = []
        for _ in range(frames):
            sel = rng.choice(len(lfw), n, replace=len(lfw) < n)
            photos = [np.asarray(Image.open(lfw[i].path).convert("RGB")) for i in sel]
            m = compose(photos, [np.array(lfw[i].box) for i in sel], list(rng.integers(60, 81, n)), (640, 640), rng,
                        feather=0.1, skip_unplaceable=True)
            out[n].append(np.asarray(Image.fromarray(m.image).convert("L")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vss", required=True, help="exported VSS-neck model (.onnx)")
    ap.add_argument("--csp", required=True, help="exported CSP-neck model (.onnx)")
    ap.add_argument("--data", default="configs/onepass-vss.yaml", help="training YAML whose test mosaics to use")
    ap.add_argument("--limit", type=int, default=0, help="use the first N test mosaics (0 = all)")
    ap.add_argument("--frames", type=int, default=5, help="frames per face count for the speed table")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=PATH",
                    help="another exported one-pass model to evaluate alongside (repeatable)")
    ap.add_argument("--out", type=Path, help="write the figures as JSON")
    args = ap.parse_args()
    cfg = from_dict(DetectorTrainConfig, load_yaml(args.data))
    test = load_split(cfg.data, "test")
    images = np.asarray(test.images[: args.limit or None])
    boxes, labels = test.boxes[: len(images)], test.labels[: len(images)]
    n_faces = sum(len(b) for b in boxes)
    print(f"test mosaics: {len(images)} of {images.shape[1]}×{images.shape[2]}, {n_faces} faces "
          f"({test.manifest['pool']['lfw-expressions']} lfw-expressions test photos, {test.manifest['pool']['ferplus']} FER+ test faces in the pool)")
    results = {}
    systems = {"onepass VSS neck": ("onnx", args.vss), "onepass CSP neck": ("onnx", args.csp),
               **{a.split("=", 1)[0]: ("onnx", a.split("=", 1)[1]) for a in args.also},
               "two-stage pipeline": ("two-stage", None)}
    for name, (kind, path) in systems.items():
        if kind == "onnx":
            preds, ms = run_onepass(path, images, args.threads)
            meta = json.loads(Path(path).with_suffix(".json").read_text())
            params, macs = meta["parameters"], meta["macs_at_input"]
        else:
            preds, ms = run_two_stage(images)
            params, macs = None, None
        rep = evaluate(preds, boxes, labels, EXPRESSIONS, conf=0.5)
        results[name] = {
            "face_ap50": rep["face_ap50"], "face_ap50_95": rep["face_ap50_95"],
            "expression_map50": rep["expression_map50"], "expression_map50_95": rep["expression_map50_95"],
            "at_conf_0.5": rep["at_conf"], "per_expression_ap50": {k: v["ap50"] for k, v in rep["expressions"].items()},
            "expression_faces": {k: v["n_gt"] for k, v in rep["expressions"].items()},
            "parameters": params, "macs_640": macs, "median_ms_per_test_image": ms,
        }
        results[name]["images_per_s"] = 1.0 / ms
        print(f"{name}: done ({ms * 1e3:.0f} ms per test image)", flush=True)
    print("\n| system | face AP50 | face AP50:95 | expression mAP50 | expression mAP50:95 | P / R at 0.5 | label acc. (found faces) | params | GMACs @640 | images/s @640 (median test mosaic) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        p = "—" if r["parameters"] is None else f"{r['parameters'] / 1e6:.2f} M"
        g = "—" if r["macs_640"] is None else f"{r['macs_640'] / 1e9:.2f}"
        c = r["at_conf_0.5"]
        print(f"| {name} | {r['face_ap50']:.3f} | {r['face_ap50_95']:.3f} | {r['expression_map50']:.3f} | "
              f"{r['expression_map50_95']:.3f} | {c['precision']:.2f} / {c['recall']:.2f} | "
              f"{c['label_accuracy_of_found_faces']:.3f} | {p} | {g} | {r['images_per_s']:.1f} |")
    labels_present = list(results["onepass VSS neck"]["per_expression_ap50"])
    print("\nper-expression AP50 (faces in test):")
    print("| system | " + " | ".join(f"{k} ({results['onepass VSS neck']['expression_faces'][k]})" for k in labels_present) + " |")
    print("|---|" + "---|" * len(labels_present))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['per_expression_ap50'].get(k, float('nan')):.3f}" for k in labels_present) + " |")

    frames = speed_frames(cfg, args.frames)
    speed: dict[str, dict[int, float]] = {name: {} for name in systems}
    dets = {name: OnnxDetector(path, threads=args.threads) for name, (kind, path) in systems.items() if kind == "onnx"}
    for det in dets.values():
        det.predict(rgb(frames[1][0]))  # warm-up
    with Analyzer(aus=None, explain=None) as a:
        a.analyze(rgb(frames[1][0]))
        for n, fr in frames.items():
            for name, (kind, _) in systems.items():
                ts = []
                for img in fr:
                    t = time.perf_counter()
                    if kind == "onnx":
                        dets[name].predict(rgb(img), conf=0.5, nms_iou=0.3)
                    else:
                        a.analyze(rgb(img))
                    ts.append(time.perf_counter() - t)
                speed[name][n] = float(np.median(ts)) * 1e3
    print(f"\nms per 640×640 frame (median of {args.frames} frames) by number of faces:")
    print("| system | " + " | ".join(f"{n} face{'s' if n > 1 else ''}" for n in FACE_COUNTS) + " |")
    print("|---|" + "---|" * len(FACE_COUNTS))
    for name, row in speed.items():
        print(f"| {name} | " + " | ".join(f"{row[n]:.0f}" for n in FACE_COUNTS) + " |")
    real = real_photos(cfg, {n: p for n, (k, p) in systems.items() if k == "onnx"}, args.threads)
    n_photos = real["two-stage pipeline"]["photos"]
    print(f"\nreal photographs: {n_photos} lfw-expressions test photos (whole, one face each) and the bundled astronaut")
    print("| system | conf | faces found | false boxes / photo | label acc. (found) | face AP50 | expression mAP50 | astronaut: boxes / false | astronaut face score |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in real.items():
        if "conf" not in r:
            print(f"| {name} | — | (reference) | — | {r['label_accuracy']:.3f} | — | — | — | — |")
            continue
        a = r["astronaut"]
        fs = "not found" if a["face_score"] is None else f"{a['face_score']:.2f}"
        print(f"| {name} | {r['conf']:.2f} | {r['found']:.3f} | {r['false_per_photo']:.2f} | "
              f"{r['label_accuracy_of_found']:.3f} | {r['face_ap50']:.3f} | {r['expression_map50']:.3f} | "
              f"{a['boxes']} / {a['false_boxes']} | {fs} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"accuracy": results, "ms_per_frame_by_faces": speed, "real_photos": real,
                                        "test_images": len(images), "test_faces": n_faces,
                                        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=1))


if __name__ == "__main__":
    main()
