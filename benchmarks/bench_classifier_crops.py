"""The shipped classifier on FER+ test crops through onnxruntime, with and without flip averaging.

FER+ test, majority protocol (the protocol of the training run's report): accuracy and macro-F1 of
the ONNX model as the analyzer runs it, once plainly and once averaging each crop with its mirror
image (`onnx-classifier` option `flip_average`), and the model time per face (one thread, one
face per call, median).

    python benchmarks/bench_classifier_crops.py [--model ferplus-resnet-guided]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from ferx.data.readers import open_dataset
from ferx.expression.onnx_classifier import model_files

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def macro_f1(y: np.ndarray, pred: np.ndarray, n: int) -> float:
    f1 = []
    for c in range(n):
        tp, fp, fn = np.sum((pred == c) & (y == c)), np.sum((pred == c) & (y != c)), np.sum((pred != c) & (y == c))
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ferplus-resnet-guided")
    args = ap.parse_args()
    path, meta = model_files(args.model)
    labels = meta["labels"]
    test = open_dataset(f"ferplus:{SHARED / 'ferplus'}", "test", protocol="majority")
    x = np.stack([np.asarray(Image.open(s.path).convert("L").resize((48, 48)), np.float32) for s in test.samples])
    x = (x / 127.5 - 1.0)[:, None]
    y = np.array([labels.index(s.label) for s in test.samples])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def probs(batch: np.ndarray) -> np.ndarray:
        return sess.run(["probs"], {"image": batch})[0]

    plain = np.concatenate([probs(x[i : i + 256]) for i in range(0, len(x), 256)])
    mirrored = np.concatenate([probs(np.ascontiguousarray(x[i : i + 256, ..., ::-1])) for i in range(0, len(x), 256)])
    times = {"plain": [], "flip_average": []}
    for img in x[:500]:
        t = time.perf_counter()
        probs(img[None])
        times["plain"].append(time.perf_counter() - t)
        t = time.perf_counter()
        probs(np.stack([img, img[..., ::-1]]))
        times["flip_average"].append(time.perf_counter() - t)
    print(f"FER+ test (majority): {len(y)} images; model {path.name}")
    print("| mode | accuracy | macro-F1 | ms per face (1 thread, median of 500) |")
    print("|---|---|---|---|")
    for name, p in (("plain", plain), ("flip_average", (plain + mirrored) / 2)):
        pred = p.argmax(1)
        print(f"| {name} | {np.mean(pred == y):.4f} | {macro_f1(y, pred, len(labels)):.4f} | "
              f"{np.median(times[name]) * 1e3:.3f} |")


if __name__ == "__main__":
    main()
