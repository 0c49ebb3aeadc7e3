"""Expression classifiers on FER+ and on lfw-expressions photos, side by side (issue 14).

For each model — a shipped ONNX model by name, an exported NAME.onnx, or a training run folder (its
best.pt) — and each set:

- FER+ Valid / Test: FER+'s own 48×48 crops (majority protocol), as training reports them;
- lfw half A / half B: identity-disjoint halves of lfw-expressions (`partition="halves"`), each
  photo's largest face found by the analyzer's detector and mesh and cropped as `onnx-classifier`
  crops it (`ferx.train.data.load_photo_crops`, cached). Half A is validation (every choice is made
  on it and on FER+ Valid), half B and FER+ Test are for reporting.

prints accuracy, macro-recall (mean recall over the labels present), NLL and ECE (15 bins). With
`A+B+C` as one model the mean of their probabilities is scored (an ensemble, as the distillation
teacher sees it). With `--temperature lfw-a` a temperature is fitted by NLL on lfw half A (and `ferplus-val` on FER+ Valid)
and applied before NLL/ECE; with `--prior uniform` the probabilities are divided by the training
label prior and renormalised (the sidecar's `train_prior`, or FER+ train's majority labels).

    python benchmarks/bench_classifier_xval.py [MODEL_OR_RUN ...] [--sets ferplus-val,lfw-a]
        [--temperature none|ferplus-val|lfw-a] [--prior training|uniform] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ferx.calibration import apply_temperature, expected_calibration_error, fit_temperature, log_probs, nll
from ferx.data.readers import open_dataset
from ferx.facs import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT.parent / "runs" / "ferx-aus" / "landmarks"
SETS = ("ferplus-val", "ferplus-test", "lfw-a", "lfw-b")


def crops_of(name: str, cache: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(N, 1, 48, 48) uint8 crops, (N,) label indices, label names."""
    from ferx.train.data import load_crops, load_photo_crops

    if name.startswith("ferplus"):
        ds = open_dataset(f"ferplus:{SHARED / 'ferplus'}", name.split("-")[1], protocol="majority")
        c = load_crops(ds, cache, progress=False)
        return c.images.numpy(), c.labels.numpy(), c.label_set
    split = {"lfw-a": "val", "lfw-b": "test"}[name]
    ds = open_dataset(f"lfw-expressions:{SHARED / 'lfw-expressions'}", split, partition="halves")
    c = load_photo_crops(ds, cache, progress=False)
    return c.images.numpy(), c.labels.numpy(), c.label_set


class Model:
    """Probabilities over EXPRESSIONS order for uint8 crops, from ONNX or a run's best.pt."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        if "+" in spec:  # an ensemble: the mean of its members' probabilities (the distillation teacher)
            members = [Model(part) for part in spec.split("+")]
            self.labels, self.train_prior = members[0].labels, None
            self._probs = lambda x: np.mean([m(x, members[0].labels) for m in members], axis=0)
            return
        run = Path(spec)
        if run.is_dir() and (run / "best.pt").exists():
            import torch

            from ferx.train.classifier import load_run_model
            from ferx.train.harness import normalise

            model, _, labels = load_run_model(run)
            self.labels = labels

            def probs(x: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    out = [torch.softmax(model(normalise(torch.from_numpy(x[i : i + 512])))["logits"], 1).numpy()
                           for i in range(0, len(x), 512)]
                return np.concatenate(out)

            self.train_prior = None
        else:
            import onnxruntime as ort

            from ferx.expression.onnx_classifier import model_files
            from ferx.numeric import input_normalisation

            path, meta = model_files(spec)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            norm = input_normalisation(meta, str(path))
            self.labels = tuple(meta["labels"])
            self.train_prior = meta.get("train_prior")

            def probs(x: np.ndarray) -> np.ndarray:
                return np.concatenate([sess.run(["probs"], {"image": norm(x[i : i + 256])})[0]
                                       for i in range(0, len(x), 256)])

        self._probs = probs

    def __call__(self, x: np.ndarray, label_set: tuple[str, ...]) -> np.ndarray:
        p = self._probs(x).astype(np.float64)
        return p[:, [self.labels.index(lab) for lab in label_set]]


def ferplus_train_prior(cache: Path) -> np.ndarray:
    ds = open_dataset(f"ferplus:{SHARED / 'ferplus'}", "train", protocol="majority")
    counts = np.array([sum(s.label == lab for s in ds.samples) for lab in EXPRESSIONS], np.float64)
    return counts / counts.sum()


def scores(p: np.ndarray, y: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    pred = p.argmax(1)
    present = [k for k in range(len(labels)) if (y == k).any()]
    recall = {labels[k]: float((pred[y == k] == k).mean()) for k in present}
    return {"n": int(len(y)), "accuracy": float((pred == y).mean()), "macro_recall": float(np.mean(list(recall.values()))),
            "nll": nll(p, y), "ece": expected_calibration_error(p, y), "recall": recall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=["ferplus-resnet-guided"])
    ap.add_argument("--sets", default="ferplus-val,lfw-a", help=f"comma list of {', '.join(SETS)}")
    ap.add_argument("--temperature", choices=("none", "ferplus-val", "lfw-a"), default="none")
    ap.add_argument("--prior", choices=("training", "uniform"), default="training")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sets = args.sets.split(",")
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        sys.exit(f"unknown sets {unknown}; choose from {SETS}")
    need = set(sets) | ({args.temperature} if args.temperature != "none" else set())
    data = {s: crops_of(s, args.cache) for s in SETS if s in need}
    out: dict[str, dict] = {}
    for spec in args.models:
        model = Model(spec)
        probs = {s: model(x, labels) for s, (x, _, labels) in data.items()}
        if args.prior == "uniform":
            prior = np.asarray(model.train_prior if model.train_prior is not None else ferplus_train_prior(args.cache))
            for s, (_, _, labels) in data.items():
                q = probs[s] / prior[[EXPRESSIONS.index(lab) for lab in labels]]
                probs[s] = q / q.sum(1, keepdims=True)
        t = None
        if args.temperature != "none":
            t = fit_temperature(log_probs(probs[args.temperature]), data[args.temperature][1])
            probs = {s: apply_temperature(p, t) for s, p in probs.items()}
        row = {"temperature": t, "prior": args.prior}
        for s in sets:
            row[s] = scores(probs[s], data[s][1], data[s][2])
        out[spec] = row
        cells = " | ".join(f"{s}: acc {100 * row[s]['accuracy']:.1f} % macro-recall {100 * row[s]['macro_recall']:.1f} % "
                           f"NLL {row[s]['nll']:.3f} ECE {row[s]['ece']:.3f}" for s in sets)
        print(f"{spec} (T {'–' if t is None else f'{t:.3f}'}, prior {args.prior}) | {cells}")
        for s in sets:
            print(f"    {s} recall: " + ", ".join(f"{k} {v:.2f}" for k, v in row[s]["recall"].items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
