"""Temperature scaling of the shipped expression classifier (issue 14).

The ONNX model outputs probabilities only; temperature scaling on log-probabilities equals scaling
the logits (softmax is unchanged by a per-row shift). T is fitted by NLL on FER+ Valid (majority
protocol) ONLY; NLL and ECE (15 bins) before/after are then reported on FER+ Valid and, once, on
FER+ Test — the crops as training and the model's test figures use them
(`ferx.train.data.load_crops`: FER+'s own 48×48 crops, `x / 127.5 − 1`). Optionally also on
lfw-expressions photos through the full default Analyzer (largest face per photo, the stage's raw
probabilities with `calibrated: false`, scaled here with the fitted T).

    python benchmarks/calibrate_classifier.py [--cache /work/runs/ferx-aus/landmarks] [--lfw] [--write-sidecar]
    python benchmarks/calibrate_classifier.py --fit-on lfw-a [--write-sidecar]

`--fit-on lfw-a` fits T on lfw-expressions identity half A instead (photos, faces cropped as the
analyzer crops them: `ferx.train.data.load_photo_crops`), the data the analyzer's classifier stage
actually sees; it then reports FER+ Valid / Test and lfw half B (held out) with that T.

Writes docs/runs/calibration/calibration.json and reliability-*.png; with --write-sidecar stores
{"calibration": {...}} in the model's JSON sidecar (the .onnx and its sha256 are unchanged).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ferx.calibration import apply_temperature, expected_calibration_error, fit_temperature, log_probs, nll, \
    reliability_diagram
from ferx.data.readers import open_dataset
from ferx.expression.onnx_classifier import model_files
from ferx.numeric import input_normalisation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classifier_xval import crops_of  # noqa: E402  the same crops as the cross-dataset benchmark

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "runs" / "calibration"


def set_probs(sess: ort.InferenceSession, norm, name: str, labels: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """The model's probabilities and the labels (model label indices) on one of
    `bench_classifier_xval.SETS`: FER+'s own crops (majority protocol), or an lfw half's photo crops."""
    images, y, label_set = crops_of(name, cache)
    y = np.array([labels.index(label_set[k]) for k in y], np.int64)
    x = norm(images)
    p = np.concatenate([sess.run(["probs"], {"image": x[i : i + 256]})[0] for i in range(0, len(x), 256)])
    return p.astype(np.float64), y


def ferplus_probs(sess: ort.InferenceSession, norm, split: str, labels: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    return set_probs(sess, norm, f"ferplus-{split}", labels, cache)


def write_calibration(path: Path, t: float, stats: dict, fitted_on: str, command: str, **extra: object) -> None:
    """Store the fitted temperature and its before/after figures on the fitting set in the model's
    JSON sidecar (the .onnx and its sha256 are unchanged)."""
    meta_path = path.with_suffix(".json")
    card = json.loads(meta_path.read_text())
    card["calibration"] = {"method": "temperature", "temperature": round(t, 4), "fitted_on": fitted_on, **extra,
                           "n": stats["n"], "objective": "nll",
                           "nll_before": round(stats["nll_before"], 4), "nll_after": round(stats["nll_after"], 4),
                           "ece15_before": round(stats["ece_before"], 4), "ece15_after": round(stats["ece_after"], 4),
                           "command": command}
    meta_path.write_text(json.dumps(card, indent=1))
    print(f"wrote calibration to {meta_path}")


def lfw_probs(model: str, labels: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    from ferx import Analyzer

    ds = open_dataset(SHARED / "lfw-expressions", None)
    ps, ys, missed = [], [], 0
    with Analyzer(expression={"name": "onnx-classifier", "options": {"model": model, "calibrated": False}}) as a:
        for s in ds.samples:
            f = a.analyze(s.path).faces
            if not len(f):
                missed += 1
                continue
            k = int(np.argmax(f.area))
            ps.append(f.expression[k])
            ys.append(labels.index(s.label))
    return np.array(ps, np.float64), np.array(ys, np.int64), missed


def measures(p: np.ndarray, y: np.ndarray, t: float) -> dict:
    q = apply_temperature(p, t)
    return {"n": int(len(y)), "accuracy": float(np.mean(p.argmax(1) == y)),
            "nll_before": nll(p, y), "nll_after": nll(q, y),
            "ece_before": expected_calibration_error(p, y), "ece_after": expected_calibration_error(q, y),
            "mean_confidence_before": float(p.max(1).mean()), "mean_confidence_after": float(q.max(1).mean()),
            "argmax_unchanged": bool((q.argmax(1) == p.argmax(1)).all())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ferplus-resnet-guided")
    ap.add_argument("--cache", default="/work/runs/ferx-aus/landmarks", help="landmark cache dir (load_crops)")
    ap.add_argument("--lfw", action="store_true", help="also lfw-expressions photos through the full Analyzer")
    ap.add_argument("--write-sidecar", action="store_true")
    ap.add_argument("--fit-on", choices=("ferplus-val", "lfw-a"), default="ferplus-val")
    args = ap.parse_args()
    if args.fit_on == "lfw-a":
        return fit_on_photos(args)
    path, meta = model_files(args.model)
    labels = list(meta["labels"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    norm = input_normalisation(meta, str(path))
    t0 = time.time()
    p_val, y_val = ferplus_probs(sess, norm, "val", labels, Path(args.cache))
    t = fit_temperature(log_probs(p_val), y_val)  # fitted on Valid only
    p_test, y_test = ferplus_probs(sess, norm, "test", labels, Path(args.cache))
    result = {"model": args.model, "sha256": meta["sha256"], "temperature": t, "fitted_on": "FER+ Valid",
              "ece_bins": 15, "protocol": "majority",
              "ferplus_val": measures(p_val, y_val, t), "ferplus_test": measures(p_test, y_test, t)}
    OUT.mkdir(parents=True, exist_ok=True)
    for key, (p, y) in (("val", (p_val, y_val)), ("test", (p_test, y_test))):
        reliability_diagram(p, y, OUT / f"reliability-ferplus-{key}.png", title=f"{args.model}, FER+ {key} "
                            f"(majority, n={len(y)})\nT={t:.3f} fitted on FER+ Valid",
                            others={f"T={t:.2f}": apply_temperature(p, t)})
    if args.lfw:
        p_lfw, y_lfw, missed = lfw_probs(args.model, labels)
        result["lfw_expressions"] = {**measures(p_lfw, y_lfw, t), "photos_without_face": missed}
        reliability_diagram(p_lfw, y_lfw, OUT / "reliability-lfw.png", title=f"{args.model}, lfw-expressions photos "
                            f"(full Analyzer, n={len(y_lfw)})\nT={t:.3f} fitted on FER+ Valid",
                            others={f"T={t:.2f}": apply_temperature(p_lfw, t)})
    result["seconds"] = round(time.time() - t0, 1)
    (OUT / "calibration.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    if args.write_sidecar:
        write_calibration(path, t, result["ferplus_val"], "FER+ Valid",
                          "python benchmarks/calibrate_classifier.py --write-sidecar", protocol="majority")


def fit_on_photos(args: argparse.Namespace) -> None:
    path, meta = model_files(args.model)
    labels = list(meta["labels"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    norm = input_normalisation(meta, str(path))
    cache = Path(args.cache)
    data = {name.replace("-", "_"): set_probs(sess, norm, name, labels, cache)
            for name in ("lfw-a", "lfw-b", "ferplus-val", "ferplus-test")}
    t = fit_temperature(log_probs(data["lfw_a"][0]), data["lfw_a"][1])
    result = {"model": args.model, "sha256": meta["sha256"], "temperature": t, "fitted_on": "lfw-expressions identity half A",
              "ece_bins": 15, **{k: measures(p, y, t) for k, (p, y) in data.items()}}
    OUT.mkdir(parents=True, exist_ok=True)
    p, y = data["lfw_b"]
    reliability_diagram(p, y, OUT / "reliability-lfw-b.png", title=f"{args.model}, lfw-expressions half B "
                        f"(held out, n={len(y)})\nT={t:.3f} fitted on lfw half A", others={f"T={t:.2f}": apply_temperature(p, t)})
    (OUT / "calibration-photos.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    if args.write_sidecar:
        write_calibration(path, t, result["lfw_a"],
                          "lfw-expressions identity half A (photos, faces cropped as the analyzer crops them)",
                          "python benchmarks/calibrate_classifier.py --fit-on lfw-a --write-sidecar")


if __name__ == "__main__":
    main()
