"""One-pass detector: large faces read again on a shrunk copy (`OnnxDetector.predict(large_face=…)`),
chosen on validation data, then reported once on test data (issue 26).

On real close-ups (faces of ~200 px) the shipped model's expression scores hardly depend on the face
(val photos: happiness for every face, macro-recall 0.200), while shrinking the same photos so the
face is ~100 px gives it labels that do (the probe in docs/results.md). The second read keeps the
first read's boxes and face scores by default, so which faces are found does not change.

Criterion, written before the grid was run (2026-12-07 03:44 UTC; the grid ran from 03:46): among the settings
large_face ∈ LARGE_FACES (model px), large_side ∈ LARGE_SIDES (px), large_box ∈ {no, yes} that keep,
against the second read off, V1 (val-like-test mosaics) face AP50 and expression mAP50 within 0.01
and V2 (validation photos) and V3 (group pictures of them) faces found within 0.02, the one with the
best V2 macro-recall of all faces (a face not found counts as wrong); ties to the larger large_face
(fewer second reads), then the smaller large_side, then no box change.

    python benchmarks/bench_onepass_large.py --split val            # the grid and the choice
    python benchmarks/bench_onepass_large.py --split val|test --large-face F --large-side S [--large-box] [--no-paste]

The grid reads the copy on its own (`paste=False`, as it was run); the stage pastes it beside the
image in the same pass where it fits, chosen afterwards on validation with the two commands above
(`--split val --large-face 192 --large-side 128` with and without `--no-paste`).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from ferx.detect.onepass import LARGE_FACE, LARGE_SIDE, OnnxDetector
from ferx.facs import EXPRESSIONS
from ferx.train.onepass.data.store import load_split
from ferx.train.onepass.evaluate import Prediction, evaluate, found_labels, label_figures
from ferx.train.onepass.photos import PhotoSet, group_set, photo_figures, photo_set
from ferx.train.onepass.train import DetectorTrainConfig
from ferx.train.runconfig import load_config

LARGE_FACES = (96, 128, 160, 192)
LARGE_SIDES = (128, 160, 192)
SPLITS = {"val": ("val-like-test", "val"), "test": ("test", "test")}
AP_CONF = 0.01


def predict(det: OnnxDetector, images: list[np.ndarray], conf: float, setting: dict | None) -> list[Prediction]:
    kw = {} if setting is None else setting
    return [Prediction(*det.predict(np.asarray(img), conf, 0.3, False, **kw)) for img in images]


def figures(det: OnnxDetector, mosaics, photos: PhotoSet, groups: PhotoSet, setting: dict | None) -> dict:
    conf = det.default_conf
    m = evaluate(predict(det, list(mosaics.images), AP_CONF, setting), mosaics.boxes, mosaics.labels, EXPRESSIONS, conf=conf)
    p = photo_figures(predict(det, photos.images, conf, setting), photos, conf)
    g_preds = predict(det, groups.images, conf, setting)
    g = photo_figures(g_preds, groups, conf)
    return {"v1_face_ap50": m["face_ap50"], "v1_expression_map50": m["expression_map50"],
            "v2_found": p["found"], "v2_accuracy": float(np.nan_to_num(p["labels"]["accuracy"])),
            "v2_macro_recall": float(np.nan_to_num(p["labels"]["macro_recall"])),
            "v2_macro_recall_of_all": float(np.nan_to_num(p["labels_of_all"]["macro_recall"])),
            "v2_false_per_photo": p["false_per_photo"], "v3_found": g["found"],
            "v3_macro_recall": float(np.nan_to_num(g["labels"]["macro_recall"])),
            "v2_recall": {k: (round(v["recall"], 2), v["faces"]) for k, v in p["labels"]["per_label"].items()}}


def line(name: str, f: dict) -> str:
    return (f"| {name} | {f['v1_face_ap50']:.3f} | {f['v1_expression_map50']:.3f} | {f['v2_found']:.3f} | "
            f"{f['v2_accuracy']:.3f} | {f['v2_macro_recall']:.3f} | {f['v2_macro_recall_of_all']:.3f} | "
            f"{f['v2_false_per_photo']:.3f} | {f['v3_found']:.3f} | {f['v3_macro_recall']:.3f} |")


def speed(n: int, large_face: float, large_side: int) -> None:
    import csv

    from PIL import Image

    lfw = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-expressions"
    rows = list(csv.DictReader(open(lfw / "labels.csv")))[:n]
    images = [np.asarray(Image.open(lfw / "images" / r["image"]).convert("RGB")) for r in rows]
    det = OnnxDetector(threads=2)
    for image in images[:5]:
        det.predict(image)
    settings = {"off": {}, "pasted": {"large_face": large_face, "large_side": large_side},
                "on its own": {"large_face": large_face, "large_side": large_side, "paste": False}}
    times: dict[str, list[float]] = {k: [] for k in settings}
    for _ in range(3):
        for name, kw in settings.items():
            t = time.perf_counter()
            for image in images:
                det.predict(image, **kw)
            times[name].append((time.perf_counter() - t) / len(images) * 1e3)
    print(f"{len(images)} lfw photos, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: ms per photo, median of 3 rounds")
    for name, t in times.items():
        print(f"  {name}: {np.median(t):.1f} ({', '.join(f'{x:.1f}' for x in t)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=sorted(SPLITS), default="val")
    ap.add_argument("--data", default="configs/onepass-csp.yaml")
    ap.add_argument("--box-cache", type=Path, help="the lfw box cache, if not where the config says")
    ap.add_argument("--large-face", type=float)
    ap.add_argument("--large-side", type=int, default=LARGE_SIDE, help=f"default: the stage's, {LARGE_SIDE}")
    ap.add_argument("--large-box", action="store_true")
    ap.add_argument("--speed", type=int, default=0, metavar="N",
                    help="only time the stage on the first N lfw-expressions photos: off, the copy pasted, the "
                         "copy read on its own (2 threads, median of 3 alternating rounds)")
    ap.add_argument("--no-paste", action="store_true", help="read the shrunk copy on its own, never pasted beside "
                    "the image in the same pass (how the grid was run)")
    args = ap.parse_args()
    if args.speed:
        speed(args.speed, args.large_face or LARGE_FACE, args.large_side)
        return
    cfg = load_config(DetectorTrainConfig, args.data)
    if args.box_cache is not None:
        import dataclasses
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, box_cache=args.box_cache))
    mosaic_split, identities = SPLITS[args.split]
    mosaics = load_split(cfg.data, mosaic_split)
    photos = photo_set(cfg.data, identities)
    groups = group_set(photos)
    det = OnnxDetector(threads=2)
    print(f"{args.split}: {len(mosaics)} mosaics, {len(photos.images)} photos, {len(groups.images)} group pictures; "
          f"conf {det.default_conf}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| setting | V1 face AP50 | V1 expr. mAP50 | V2 found | V2 label acc. | V2 macro-recall | V2 macro-recall of all | "
          "V2 false/photo | V3 found | V3 macro-recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    off = figures(det, mosaics, photos, groups, None)
    print(line("off (as shipped)", off))
    if args.split == "test" or args.large_face is not None:
        setting = {"large_face": args.large_face, "large_side": args.large_side, "large_box": args.large_box,
                   "paste": not args.no_paste}
        f = figures(det, mosaics, photos, groups, setting)
        print(line(f"large_face {args.large_face:g}, side {args.large_side}, box {'yes' if args.large_box else 'no'}", f))
        print("V2 per-label recall of found faces:", f["v2_recall"], "(off:", off["v2_recall"], ")")
        return
    ok = []
    for face, side, box in itertools.product(LARGE_FACES, LARGE_SIDES, (False, True)):
        f = figures(det, mosaics, photos, groups, {"large_face": face, "large_side": side, "large_box": box,
                                                    "paste": False})
        print(line(f"large_face {face}, side {side}, box {'yes' if box else 'no'}", f))
        if (f["v1_face_ap50"] >= off["v1_face_ap50"] - 0.01 and f["v1_expression_map50"] >= off["v1_expression_map50"] - 0.01
                and f["v2_found"] >= off["v2_found"] - 0.02 and f["v3_found"] >= off["v3_found"] - 0.02):
            ok.append(((-f["v2_macro_recall_of_all"], -face, side, box), face, side, box, f))
    if not ok:
        print("no setting keeps the constraints")
        return
    _, face, side, box, f = min(ok)
    print(f"chosen: large_face {face}, large_side {side}, large_box {box} — V2 macro-recall of all "
          f"{f['v2_macro_recall_of_all']:.3f} (off {off['v2_macro_recall_of_all']:.3f}); per label {f['v2_recall']}")


if __name__ == "__main__":
    main()
