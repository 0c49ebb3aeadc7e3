"""How much of the expression label the AU evidence alone explains (the `au-codebook` backend).

Uses the per-face blendshapes and landmarks cached by benchmarks/calibrate_aus.py for
lfw-expressions (run it first; it builds the cache in about a minute), then AU intensities and the
codebook scorer exactly as the pipeline computes them. Reports accuracy, balanced accuracy (mean
per-class recall over classes with >= 10 images) and the confusion matrix. lfw-expressions labels
are crowd-sourced and noisy; contempt (4 images) and fear (15) are too rare to judge.

    python benchmarks/calibrate_aus.py && python benchmarks/bench_codebook.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferx import Faces
from ferx.expression.codebook import AUCodebookExpression
from ferx.facs import EXPRESSIONS, au_intensities

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    cache = ROOT / "runs" / "lfw_blendshapes.npz"
    if not cache.exists():
        raise SystemExit(f"{cache} missing: run benchmarks/calibrate_aus.py first")
    z = np.load(cache)
    labels = z["label"]
    n = len(labels)
    aus = au_intensities(z["blendshapes"], z["landmarks"])
    faces = Faces(np.tile([0, 0, 1, 1], (n, 1)), np.ones(n), np.zeros((n, 5, 2)), blendshapes=z["blendshapes"], aus=aus)
    pred = np.array(AUCodebookExpression().process(np.zeros((1, 1, 3), np.uint8), faces).labels)
    present = [e for e in EXPRESSIONS if (labels == e).sum() >= 10]
    recalls = {e: float((pred[labels == e] == e).mean()) for e in EXPRESSIONS if (labels == e).any()}
    print(f"lfw-expressions, {n} faces: accuracy {np.mean(pred == labels):.3f}, "
          f"balanced accuracy {np.mean([recalls[e] for e in present]):.3f} over {len(present)} classes")
    print("| true \\ predicted | " + " | ".join(e[:5] for e in EXPRESSIONS) + " | n | recall |")
    print("|---" * (len(EXPRESSIONS) + 3) + "|")
    for e in EXPRESSIONS:
        m = labels == e
        if not m.any():
            continue
        counts = [int((pred[m] == p).sum()) for p in EXPRESSIONS]
        print(f"| {e} | " + " | ".join(map(str, counts)) + f" | {m.sum()} | {recalls[e]:.2f} |")


if __name__ == "__main__":
    main()
