"""One-pass detector: its inference settings chosen on validation data, its test figures, and the
comparison with the two-stage pipeline.

Two data sets per split, both from the training config's `data` section (`ferx.train.onepass.data`; its
paths are relative to the config file, as for `ferx train-detector`):
  * mosaics — `--split test`: the test mosaics (640×640; lfw-expressions test identities, FER+ Test);
    `--split val`: the `val-like-test` mosaics (same generator and shape, validation identities and
    FER+ Valid). Scenes of whole photos and face-free photographs, and pasted faces.
  * real photographs, unmodified: the lfw-expressions photos of the split's identities (mostly
    350×350 close-ups, one face each; reference box = the two-stage pipeline's, cached in the box
    cache; label = the dataset's), and ferx's bundled astronaut portrait (a false-positive check,
    in neither split).

Modes:
  --choose (validation only; refused with --split test): for each model, the face-score threshold
    on a grid 0.05…0.95 and the two inference fixes — not enlarging images smaller than the input
    (`upscale` off) and clipping boxes to the image before NMS — on and off. Prints every setting's
    figures and the choice: the (upscale, clip, conf) with the largest mean of the face F1 (IoU 0.5)
    on the mosaics and on the photos, which weigh equally as two uses (crowded composites, real
    close-ups); ties at 3 decimals go to the settings in use (upscale off, clipping on, conf nearest
    the model's recorded one).
  default: the report at one setting (--conf, default the model's recorded conf; --upscale;
    --no-clip): face AP50 / AP50:95, expression mAP50 / mAP50:95 and per-label AP50, precision /
    recall / label accuracy at the threshold on the mosaics; faces found, false boxes per photo and
    label accuracy on the photos; the astronaut. With --two-stage also the two-stage pipeline
    (BlazeFace pyramid → mesh confirmation → AU-guided classifier; expression AP score = detector
    score × label probability), and with --speed milliseconds per 640×640 frame against the number of
    faces (1, 4, 16, 32).

The models run on onnxruntime through `Network` below (letterbox → raw maps → decoding), which can
switch the two fixes; with upscale off and clipping on it gives exactly the detections of the
shipped stage (`OnnxDetector.predict`), which is checked at start. All systems use 2 threads.

    # choose on validation (writes nothing under the project but --out)
    python benchmarks/bench_onepass.py --choose --split val --data configs/onepass-csp.yaml \
        --model "onepass-nano-csp=src/ferx/assets/models/onepass-nano-csp.onnx" --out choice.json
    # then report the test figures once, with the chosen settings
    python benchmarks/bench_onepass.py --split test --data configs/onepass-csp.yaml \
        --model "onepass-nano-csp=src/ferx/assets/models/onepass-nano-csp.onnx" [--conf C] [--upscale] [--no-clip] \
        [--two-stage] [--speed] [--limit N] [--out test.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ferx import Analyzer
from ferx.boxes import box_iou
from ferx.data.mosaic import compose
from ferx.facs import EXPRESSIONS
from ferx.numeric import input_normalisation
from ferx.train.onepass.data.boxes import load_box_cache
from ferx.train.onepass.data.mosaics import face_refs
from ferx.train.onepass.data.store import load_split
from ferx.detect.onepass_decode import decode, image_detections, letterbox, nms
from ferx.train.onepass.evaluate import MACRO_LABELS, Prediction, evaluate, found_labels, label_figures, operating_points
from ferx.detect.onepass import OnnxDetector, model_files
from ferx.train.onepass.photos import PhotoSet, group_set, photo_figures, photo_set
from ferx.train.onepass.train import DetectorTrainConfig
from ferx.train.runconfig import load_config

FACE_COUNTS = (1, 4, 16, 32)
NMS_IOU = 0.3  # the paper's
AP_CONF = 0.01  # detections kept for AP and for the threshold sweep
CONF_GRID = [round(float(c), 2) for c in np.arange(0.05, 0.951, 0.05)]
#: per --split: the mosaics split, and the split whose lfw-expressions identities give the photos
SPLITS = {"val": ("val-like-test", "val"), "test": ("test", "test")}
MAX_DET = 300  # as ferx.detect.onepass_decode.postprocess


@dataclass(frozen=True)
class Settings:
    """Inference settings of the one-pass model (the stage's: upscale off, clipping on)."""

    conf: float
    upscale: bool = False
    clip: bool = True

    def name(self) -> str:
        return f"upscale {'on' if self.upscale else 'off'}, clipping {'on' if self.clip else 'off'}"


class Network:
    """An exported one-pass model on onnxruntime, up to its raw maps.

    `OnnxDetector.predict` always keeps small images at their size and clips boxes before NMS; the
    ablation needs both switchable, so this class runs the same letterbox and network and leaves the
    decoding to `detections`.
    """

    def __init__(self, path: str, threads: int) -> None:
        import onnxruntime as ort

        onnx_path, self.meta = model_files(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.size = int(self.meta["input"]["size"])
        self.outputs = list(self.meta["outputs"])
        self.conf = float(self.meta.get("defaults", {}).get("conf", 0.5))
        self.normalise = input_normalisation(self.meta, path)

    def run(self, grey: np.ndarray, upscale: bool) -> tuple[list[np.ndarray], float, tuple[int, int]]:
        """Raw maps of an (H, W) uint8 image, the letterbox scale, and the image's extent in the input."""
        canvas, scale = letterbox(np.ascontiguousarray(grey, np.uint8), self.size, upscale)
        maps = self.session.run(self.outputs, {"image": self.normalise(canvas)[None, None]})
        h, w = grey.shape
        return maps, scale, (min(self.size, round(h * scale)), min(self.size, round(w * scale)))


def detections(net: Network, maps: list[np.ndarray], scale: float, content: tuple[int, int],
               image_hw: tuple[int, int], conf: float, clip: bool) -> Prediction:
    """Decode raw maps into image-pixel detections (face score ≥ conf, NMS 0.3).

    clip=True clips boxes to the image before NMS (the stage); clip=False runs NMS on the unclipped
    boxes and clips afterwards (the stage before 2026-11-29).
    """
    size = (net.size, net.size)
    if clip:
        return Prediction(*image_detections(maps, net.size, scale, image_hw, conf, NMS_IOU, MAX_DET))
    all_boxes, obj, cls = decode(maps, size)
    keep = np.flatnonzero(obj[0] >= conf)
    if len(keep) > 20 * MAX_DET:  # the same bound on NMS work as postprocess
        keep = keep[np.argsort(-obj[0, keep])[: 20 * MAX_DET]]
    sel = keep[nms(all_boxes[0, keep], obj[0, keep], NMS_IOU)[:MAX_DET]]
    boxes, scores, probs = all_boxes[0, sel], obj[0, sel], cls[0, sel]
    h, w = image_hw
    boxes = boxes / scale
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    ok = (boxes[:, 2] - boxes[:, 0] > 1) & (boxes[:, 3] - boxes[:, 1] > 1)
    return Prediction(boxes[ok], scores[ok], probs[ok])


def predict(net: Network, images: list[np.ndarray], settings: Settings) -> tuple[list[Prediction], float]:
    """Detections of every image at `settings`, and the median seconds per image."""
    preds, times = [], []
    for img in images:
        t = time.perf_counter()
        grey = np.asarray(img)
        maps, scale, content = net.run(grey, settings.upscale)
        preds.append(detections(net, maps, scale, content, grey.shape, settings.conf, settings.clip))
        times.append(time.perf_counter() - t)
    return preds, float(np.median(times))


def predict_both_clips(net: Network, images: list[np.ndarray], upscale: bool, conf: float
                       ) -> dict[bool, list[Prediction]]:
    """Detections with clipping on and off, from one network run per image."""
    out: dict[bool, list[Prediction]] = {True: [], False: []}
    for img in images:
        grey = np.asarray(img)
        maps, scale, content = net.run(grey, upscale)
        for clip in (True, False):
            out[clip].append(detections(net, maps, scale, content, grey.shape, conf, clip))
    return out


def check_against_stage(path: str, net: Network, images: list[np.ndarray]) -> None:
    """`Network` + `detections` with the stage's settings must give the stage's detections."""
    stage = OnnxDetector(path, threads=1)
    for img in images:
        want = stage.predict(np.asarray(img), conf=AP_CONF, nms_iou=NMS_IOU)
        got = predict(net, [img], Settings(AP_CONF))[0][0]
        for a, b in zip(want, (got.boxes, got.scores, got.probs)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)


def rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(grey)[..., None], 3, axis=2)


def astronaut_check(net: Network, settings: Settings) -> dict:
    """Boxes on the bundled astronaut portrait against the two-stage pipeline's single face."""
    from ferx.cli import demo_image

    astro = np.asarray(Image.open(demo_image()).convert("RGB"))
    with Analyzer(aus=None, explain=None) as a:
        ref = a.analyze(astro).faces.boxes
    grey = np.asarray(Image.fromarray(astro).convert("L"))
    p = predict(net, [grey], settings)[0][0]
    hits = box_iou(p.boxes.astype(np.float64), ref.astype(np.float64)).max(1) >= 0.5 if len(p.boxes) and len(ref) \
        else np.zeros(len(p.boxes), bool)
    label = EXPRESSIONS[int(p.probs[hits][np.argmax(p.scores[hits])].argmax())] if hits.any() else None
    return {"boxes": int(len(p.boxes)), "face_found": bool(hits.any()), "false_boxes": int((~hits).sum()),
            "face_score": float(p.scores[hits].max()) if hits.any() else None, "face_label": label}


def ap_figures(preds: list[Prediction], boxes: list[np.ndarray], labels: list[np.ndarray]) -> dict:
    rep = evaluate(preds, boxes, labels, EXPRESSIONS, conf=0.5)
    return {"face_ap50": rep["face_ap50"], "face_ap50_95": rep["face_ap50_95"],
            "expression_map50": rep["expression_map50"], "expression_map50_95": rep["expression_map50_95"],
            "per_expression_ap50": {k: v["ap50"] for k, v in rep["expressions"].items()},
            "expression_faces": {k: v["n_gt"] for k, v in rep["expressions"].items()}}


def at_threshold(preds: list[Prediction], boxes: list[np.ndarray], labels: list[np.ndarray], conf: float) -> dict:
    return operating_points(preds, boxes, labels, [conf])[0]


# -- choosing on validation ------------------------------------------------------------------------
def choose(net: Network, mosaics, photos: PhotoSet) -> dict:
    """Every (upscale, clip) variant at AP_CONF once, then every threshold of CONF_GRID from it (a
    higher threshold keeps a subset of the same NMS survivors: NMS only lets higher scores suppress)."""
    images = [np.asarray(m) for m in mosaics.images]
    if any(img.shape != (net.size, net.size) for img in images):
        raise ValueError("the mosaics must be the model's input size (so that upscale cannot change them)")
    variants: dict[str, dict] = {}
    mosaic_preds = predict_both_clips(net, images, False, AP_CONF)
    for upscale in (False, True):
        photo_both = predict_both_clips(net, photos.images, upscale, AP_CONF)
        for clip in (True, False):
            s = Settings(AP_CONF, upscale, clip)
            photo_preds = photo_both[clip]
            m_pts = operating_points(mosaic_preds[clip], mosaics.boxes, mosaics.labels, CONF_GRID)
            p_pts = operating_points(photo_preds, photos.boxes, photos.labels, CONF_GRID)
            variants[s.name()] = {
                "upscale": upscale, "clip": clip,
                "mosaics": {**ap_figures(mosaic_preds[clip], mosaics.boxes, mosaics.labels), "points": m_pts},
                "photos": {"face_ap50": evaluate(photo_preds, photos.boxes, photos.labels, EXPRESSIONS)["face_ap50"],
                           "points": p_pts},
                "objective": [round((m["f1"] + p["f1"]) / 2, 3) for m, p in zip(m_pts, p_pts)],
            }

    def rank(item: tuple[str, dict, int]) -> tuple:
        _, v, i = item  # best objective, then the settings in use, then conf nearest the recorded one
        return (-v["objective"][i], v["upscale"], not v["clip"], abs(CONF_GRID[i] - net.conf))

    name, v, i = min(((n, v, i) for n, v in variants.items() for i in range(len(CONF_GRID))), key=rank)
    chosen = Settings(CONF_GRID[i], v["upscale"], v["clip"])
    current = Settings(net.conf)
    ci = CONF_GRID.index(round(net.conf, 2)) if round(net.conf, 2) in CONF_GRID else None
    return {"grid": CONF_GRID, "variants": variants, "chosen": asdict(chosen), "chosen_objective": v["objective"][i],
            "in_use": asdict(current),
            "in_use_objective": variants[current.name()]["objective"][ci] if ci is not None else None}


def print_choice(label: str, res: dict) -> None:
    print(f"\n{label}: face F1 at IoU 0.5 by threshold (mosaics / photos / mean), per variant")
    for name, v in res["variants"].items():
        m = v["mosaics"]
        print(f"\n{name}: mosaics face AP50 {m['face_ap50']:.3f}, AP50:95 {m['face_ap50_95']:.3f}, "
              f"expression mAP50 {m['expression_map50']:.3f}; photos face AP50 {v['photos']['face_ap50']:.3f}")
        print("| conf | mosaics P / R / F1 | mosaics label acc. | photos found | photos false / photo | "
              "photos label acc. | photos F1 | mean F1 |")
        print("|---|---|---|---|---|---|---|---|")
        for m, p, o in zip(v["mosaics"]["points"], v["photos"]["points"], v["objective"]):
            print(f"| {m['conf']:.2f} | {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f} | "
                  f"{m['label_accuracy_of_found_faces']:.3f} | {p['recall']:.3f} | {p['false_per_image']:.3f} | "
                  f"{p['label_accuracy_of_found_faces']:.3f} | {p['f1']:.3f} | {o:.3f} |")
    c = res["chosen"]
    print(f"\nchosen on validation: conf {c['conf']:.2f}, upscale {c['upscale']}, clip {c['clip']} "
          f"(mean F1 {res['chosen_objective']:.3f}; settings in use {res['in_use']}: {res['in_use_objective']})")


# -- reporting at one setting ------------------------------------------------------------------------
def label_summary(preds: list[Prediction], data, conf: float) -> dict:
    """Labels of the faces found at conf: accuracy, per-label recall, macro-recall (`label_figures`)."""
    true, pred = found_labels(preds, data.boxes, data.labels, conf)
    return label_figures(true, pred, EXPRESSIONS)


def report(net: Network, settings: Settings, mosaics, photos: PhotoSet, groups: PhotoSet) -> dict:
    images = [np.asarray(m) for m in mosaics.images]
    low = Settings(AP_CONF, settings.upscale, settings.clip)  # AP needs the low-score detections too
    preds, sec = predict(net, images, low)
    photo_preds = predict(net, photos.images, low)[0]
    group_preds = predict(net, groups.images, low)[0]
    return {
        "settings": asdict(settings),
        "mosaics": {**ap_figures(preds, mosaics.boxes, mosaics.labels),
                    "at_conf": at_threshold(preds, mosaics.boxes, mosaics.labels, settings.conf),
                    "labels": label_summary(preds, mosaics, settings.conf),
                    "median_ms_per_image": sec * 1e3, "images_per_s": 1.0 / sec},
        "photos": {**photo_figures(photo_preds, photos, settings.conf),
                   "face_ap50": evaluate(photo_preds, photos.boxes, photos.labels, EXPRESSIONS)["face_ap50"]},
        "groups": photo_figures(group_preds, groups, settings.conf),
        "astronaut": astronaut_check(net, settings),
        "parameters": net.meta["parameters"], "macs_640": net.meta["macs_at_input"],
    }


#: the two-stage pipeline's faces are scored at the score the earlier tables used for it
TWO_STAGE_CONF = 0.5


def two_stage_predictions(a: Analyzer, images: list[np.ndarray]) -> tuple[list[Prediction], float]:
    """The pipeline's faces (box, detector score, label probabilities) per image, and the median seconds."""
    preds, times = [], []
    for img in images:
        t = time.perf_counter()
        f = a.analyze(rgb(img)).faces
        times.append(time.perf_counter() - t)
        probs = f.expression if f.expression is not None else np.zeros((len(f), len(EXPRESSIONS)))
        preds.append(Prediction(f.boxes, f.scores, np.nan_to_num(probs)))
    return preds, float(np.median(times))


def two_stage(mosaics, photos: PhotoSet, groups: PhotoSet) -> dict:
    """The two-stage pipeline on the same mosaics, photos and groups (expression AP score = detector
    score × label probability). On the photos its own boxes are the reference, so every face is found
    by construction and only its labels are news."""
    with Analyzer(aus=None, explain=None) as a:
        preds, sec = two_stage_predictions(a, [np.asarray(m) for m in mosaics.images])
        photo_preds = two_stage_predictions(a, photos.images)[0]
        group_preds = two_stage_predictions(a, groups.images)[0]
    return {"settings": {"conf": TWO_STAGE_CONF},
            "mosaics": {**ap_figures(preds, mosaics.boxes, mosaics.labels),
                        "at_conf": at_threshold(preds, mosaics.boxes, mosaics.labels, TWO_STAGE_CONF),
                        "labels": label_summary(preds, mosaics, TWO_STAGE_CONF),
                        "median_ms_per_image": sec * 1e3, "images_per_s": 1.0 / sec},
            "photos": photo_figures(photo_preds, photos, TWO_STAGE_CONF),
            "groups": photo_figures(group_preds, groups, TWO_STAGE_CONF)}


def speed_frames(cfg: DetectorTrainConfig, identities: str, frames: int) -> dict[int, list[np.ndarray]]:
    """Per face count, `frames` 640×640 grey frames of lfw-expressions faces (60–80 px wide)."""
    lfw, _ = face_refs(cfg.data, identities, load_box_cache(cfg.data.box_cache))
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


def speed(models: dict[str, tuple[Network, Settings]], frames: dict[int, list[np.ndarray]], with_two_stage: bool
          ) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {name: {} for name in models}
    for net, s in models.values():
        predict(net, frames[1][:1], s)  # warm-up
    a = Analyzer(aus=None, explain=None) if with_two_stage else None
    if a is not None:
        out["two-stage pipeline"] = {}
        a.analyze(rgb(frames[1][0]))
    for n, fr in frames.items():
        for name, (net, s) in models.items():
            out[name][n] = predict(net, fr, s)[1] * 1e3
        if a is not None:
            ts = []
            for img in fr:
                t = time.perf_counter()
                a.analyze(rgb(img))
                ts.append(time.perf_counter() - t)
            out["two-stage pipeline"][n] = float(np.median(ts)) * 1e3
    if a is not None:
        a.close()
    return out


def print_report(results: dict, split: str, n_images: int, n_faces: int, photos: PhotoSet, groups: PhotoSet) -> None:
    print(f"\n{split} mosaics ({n_images}, {n_faces} faces):")
    print("| system | conf | face AP50 | face AP50:95 | expression mAP50 | expression mAP50:95 | P / R at conf | "
          "label acc. (found faces) | macro-recall (found) | images/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        m, c = r["mosaics"], r["mosaics"]["at_conf"]
        print(f"| {name} | {c['conf']:.2f} | {m['face_ap50']:.3f} | {m['face_ap50_95']:.3f} | "
              f"{m['expression_map50']:.3f} | {m['expression_map50_95']:.3f} | {c['precision']:.3f} / {c['recall']:.3f} | "
              f"{m['labels']['accuracy']:.3f} | {m['labels']['macro_recall']:.3f} | {m['images_per_s']:.1f} |")
    first = next(iter(results.values()))["mosaics"]
    print("\nper-expression AP50 on the mosaics (faces):")
    print("| system | " + " | ".join(f"{k} ({n})" for k, n in first["expression_faces"].items()) + " |")
    print("|---|" + "---|" * len(first["expression_faces"]))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['mosaics']['per_expression_ap50'].get(k, float('nan')):.3f}"
                                          for k in first["expression_faces"]) + " |")
    for key, what, data in (("photos", "lfw-expressions photos, whole, one face each", photos),
                            ("groups", "group pictures of those photos, 2–9 side by side at 640 px", groups)):
        n_faces = sum(len(b) for b in data.boxes)
        print(f"\n{split} {key} ({len(data.images)} {what}; {n_faces} faces). Labels of the found faces; "
              f"macro-recall over {', '.join(MACRO_LABELS)}:")
        print("| system | conf | faces found | false boxes / image | label acc. | macro-recall | " +
              " | ".join(f"{k} recall" for k in MACRO_LABELS) + " |")
        print("|---|---|---|---|---|---|" + "---|" * len(MACRO_LABELS))
        for name, r in results.items():
            p, lab = r[key], r[key]["labels"]
            rec = [f"{lab['per_label'][k]['recall']:.2f} ({lab['per_label'][k]['faces']})" if k in lab["per_label"]
                   else "–" for k in MACRO_LABELS]
            print(f"| {name} | {p['conf']:.2f} | {p['found']:.3f} | {p['false_per_photo']:.3f} | {lab['accuracy']:.3f} | "
                  f"{lab['macro_recall']:.3f} | " + " | ".join(rec) + " |")
    print("\nthe bundled astronaut portrait:")
    for name, r in results.items():
        if "astronaut" in r:
            a = r["astronaut"]
            face = "not found" if a["face_score"] is None else f"{a['face_score']:.2f}, {a['face_label']}"
            print(f"  {name}: {a['boxes']} box(es), {a['false_boxes']} false; face {face}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=PATH", help="exported one-pass model "
                    "(.onnx with its .json sidecar); repeatable")
    ap.add_argument("--data", default="configs/onepass-csp.yaml", help="training YAML whose mosaics and box cache "
                    "to use")
    ap.add_argument("--split", choices=sorted(SPLITS), default="test",
                    help="val: val-like-test mosaics and validation-identity photos; test: the test ones")
    ap.add_argument("--choose", action="store_true", help="choose threshold / upscale / clipping (needs --split val)")
    ap.add_argument("--conf", type=float, help="face-score threshold of the report (default: the model's recorded one)")
    ap.add_argument("--upscale", action="store_true", help="enlarge images smaller than the input")
    ap.add_argument("--no-clip", action="store_true", help="NMS on unclipped boxes (clip afterwards)")
    ap.add_argument("--two-stage", action="store_true", help="also the two-stage pipeline")
    ap.add_argument("--speed", action="store_true", help="also ms per frame by number of faces")
    ap.add_argument("--limit", type=int, default=0, help="use the first N mosaics and photos (0 = all; smoke tests)")
    ap.add_argument("--frames", type=int, default=5, help="frames per face count for the speed table")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write the figures as JSON")
    args = ap.parse_args()
    if args.choose and args.split != "val":
        ap.error("--choose makes choices, and choices are made on validation data: use --split val")
    if not args.model:
        ap.error("give at least one --model LABEL=PATH")
    cfg = load_config(DetectorTrainConfig, args.data)
    mosaic_split, identities = SPLITS[args.split]
    mosaics = load_split(cfg.data, mosaic_split)
    if args.limit:
        mosaics.images, mosaics.boxes, mosaics.labels = (mosaics.images[: args.limit], mosaics.boxes[: args.limit],
                                                         mosaics.labels[: args.limit])
    photos = photo_set(cfg.data, identities)
    if args.limit:
        photos = PhotoSet(*(getattr(photos, k)[: args.limit] for k in ("images", "boxes", "labels", "files")))
    n_faces = sum(len(b) for b in mosaics.boxes)
    print(f"{args.split}: {len(mosaics)} {mosaic_split} mosaics of {mosaics.images.shape[1]} px, {n_faces} faces; "
          f"{len(photos.images)} lfw-expressions photos of {identities} identities")
    out: dict = {"split": args.split, "mosaics": str(cfg.data.folder() / mosaic_split), "mosaic_images": len(mosaics),
                 "mosaic_faces": n_faces, "photos": len(photos.images),
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "models": {}}
    models: dict[str, tuple[Network, Settings]] = {}
    for item in args.model:
        label, _, path = item.partition("=")
        net = Network(path, args.threads)
        check_against_stage(path, net, [photos.images[0], photos.images[1], np.asarray(mosaics.images[0])])
        settings = Settings(net.conf if args.conf is None else args.conf, args.upscale, not args.no_clip)
        models[label] = (net, settings)
        out["models"][label] = {"path": path, "sha256": net.meta["sha256"], "recorded_conf": net.conf}
    if args.choose:
        for label, (net, _) in models.items():
            res = choose(net, mosaics, photos)
            print_choice(label, res)
            out["models"][label]["choice"] = res
    else:
        groups = group_set(photos)
        results = {label: report(net, s, mosaics, photos, groups) for label, (net, s) in models.items()}
        if args.two_stage:
            results["two-stage pipeline"] = two_stage(mosaics, photos, groups)
        print_report(results, args.split, len(mosaics), n_faces, photos, groups)
        out["results"] = results
        if args.speed:
            ms = speed(models, speed_frames(cfg, identities, args.frames), args.two_stage)
            print(f"\nms per 640×640 frame (median of {args.frames}) by number of faces:")
            print("| system | " + " | ".join(f"{n} face{'s' if n > 1 else ''}" for n in FACE_COUNTS) + " |")
            print("|---|" + "---|" * len(FACE_COUNTS))
            for name, row in ms.items():
                print(f"| {name} | " + " | ".join(f"{row[n]:.0f}" for n in FACE_COUNTS) + " |")
            out["ms_per_frame_by_faces"] = ms
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
