"""The trained classifier inside the whole pipeline, on full photos (lfw-expressions).

Each photo goes through detection → mesh → FER+-framed aligned crop → classifier, exactly as
`ferx analyze` runs it; the photo's largest face is scored against its crowd-sourced label. This
measures what the training-set accuracy does not: whether the analyzer's crops match the training
framing. The `au-codebook` backend runs on the same faces for comparison.

    python benchmarks/bench_classifier_photos.py [--model ferplus-resnet-guided] [--split all|train|val|test]
"""

from __future__ import annotations

import argparse

import numpy as np

from ferx import Analyzer
from ferx.data.readers import open_dataset
from ferx.facs import EXPRESSIONS
from ferx.train.metrics import classification_report

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ferplus-resnet-guided")
    ap.add_argument("--split", default="all")
    args = ap.parse_args()
    ds = open_dataset(SHARED / "lfw-expressions", None if args.split == "all" else args.split)
    y, pred_cnn, pred_au, missed = [], [], [], 0
    codebook = None
    with Analyzer(expression={"name": "onnx-classifier", "options": {"model": args.model}}) as analyzer:
        from ferx.stages import EXPRESSION_CLASSIFIERS

        codebook = EXPRESSION_CLASSIFIERS.create("au-codebook")
        for s in ds.samples:
            r = analyzer.analyze(s.path)
            if not len(r.faces):
                missed += 1
                continue
            k = int(np.argmax(r.faces.area))
            face = r.faces[k]
            y.append(EXPRESSIONS.index(s.label))
            pred_cnn.append(EXPRESSIONS.index(face.labels[0]))
            pred_au.append(EXPRESSIONS.index(codebook.process(np.zeros((1, 1, 3), np.uint8), face).labels[0]))
    y, pred_cnn, pred_au = map(np.array, (y, pred_cnn, pred_au))
    print(f"lfw-expressions ({args.split}): {len(ds)} photos, a face found in {len(y)} ({missed} without)")
    for name, pred in (("ferx " + args.model, pred_cnn), ("au-codebook", pred_au)):
        r = classification_report(y, pred, EXPRESSIONS)
        recalls = ", ".join(f"{k} {v:.2f}" for k, v in r["per_class_recall"].items())
        print(f"{name}: accuracy {r['accuracy']:.4f}, macro-F1 {r['macro_f1']:.4f}; recall: {recalls}")


if __name__ == "__main__":
    main()
