"""Exp-CoT figures: AU-evidence-only accuracy, classifier agreement, validator pass rate, time per
explanation.

Runs the Exp-CoT data engine (`ferx cot-data`, default settings: 1 CoT + 3 label records per image,
seed 0, default analyzer) over FER+ test (majority protocol) and all of lfw-expressions, writing the data under
runs/cot-data/ (so a second run resumes and only recomputes the stats), and prints the stats:
face found, AU evidence alone picks the label (accuracy, balanced accuracy, per-label recall),
agreement between the AU evidence and the configured expression classifier, validator pass rate
on the generated chains of thought. Then times the explainer on the measured lfw faces: one face
per call (as the pipeline stage sees a single-face photo) and all faces in one call.

    python benchmarks/bench_cot.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from ferx import Analyzer, Faces
from ferx.data.readers import open_dataset
from ferx.explain.cot import explain_faces
from ferx.explain.data_engine import generate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def report(name: str, stats: dict, out: Path) -> None:
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    print(f"\n### {name}\n")
    print(f"records {stats['records']} ({', '.join(f'{k} {v}' for k, v in sorted(stats['tasks'].items()))}); "
          f"skipped {stats['skipped']} {stats['skipped_reasons']} (listed in {out / 'skipped.jsonl'})")
    print(f"face found {pct(stats['face_found_rate'])} | AU evidence alone picks the label {pct(stats['au_evidence_accuracy'])} "
          f"(balanced {pct(stats['au_evidence_balanced_accuracy'])}) | images whose AUs argue against the label "
          f"{stats['contradicting_images']} | validator pass rate {pct(stats['validator_pass_rate'])} | CoT words median "
          f"{stats['cot_words_median']}")
    print("\n| label | faces | AU-evidence recall |\n|---|---|---|")
    for lab, n in stats["labels"].items():
        if n:
            print(f"| {lab} | {n} | {stats['au_evidence_recall'][lab]:.3f} |")


def time_explanations(analyzer: Analyzer, paths: list[Path]) -> None:
    faces = []
    for p in paths:
        f = analyzer.analyze(p).faces
        if len(f):
            faces.append(f[0])
    for f in faces[:20]:
        explain_faces(f)  # warm-up
    per_call = []
    for _ in range(5):
        t = time.perf_counter()
        for f in faces:
            explain_faces(f)
        per_call.append((time.perf_counter() - t) / len(faces) * 1e3)
    stacked = Faces(
        np.concatenate([f.boxes for f in faces]), np.concatenate([f.scores for f in faces]),
        np.concatenate([f.keypoints for f in faces]), blendshapes=np.concatenate([f.blendshapes for f in faces]),
        aus=np.concatenate([f.aus for f in faces]), expression=np.concatenate([f.expression for f in faces]),
    )
    batched = []
    for _ in range(5):
        t = time.perf_counter()
        explain_faces(stacked)
        batched.append((time.perf_counter() - t) / len(faces) * 1e3)
    print(f"\n### Time per explanation ({len(faces)} lfw faces, 5 repeats, median)\n")
    print(f"one face per call: {statistics.median(per_call):.3f} ms/face | "
          f"all {len(faces)} faces in one call: {statistics.median(batched):.3f} ms/face")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="first N samples of each dataset (quick trial)")
    args = ap.parse_args()
    runs = ROOT / "runs" / "cot-data"
    datasets = [("FER+ test (majority)", f"ferplus:{SHARED / 'ferplus'}", "test", "ferplus-test"),
                ("lfw-expressions (all)", f"lfw-expressions:{SHARED / 'lfw-expressions'}", None, "lfw-expressions")]
    with Analyzer() as analyzer:
        for title, spec, split, folder in datasets:
            ds = open_dataset(spec, split)
            t = time.perf_counter()
            rep = generate(ds, runs / folder, analyzer, limit=args.limit, progress=True)
            print(f"\n{ds.name}: {len(ds)} samples (dropped by the reader: {ds.dropped or 'none'}); "
                  f"{rep.written} written this run in {time.perf_counter() - t:.0f} s")
            report(title, rep.stats, runs / folder)
        lfw = open_dataset(f"lfw-expressions:{SHARED / 'lfw-expressions'}")
        time_explanations(analyzer, [s.path for s in lfw.samples[:: max(1, len(lfw) // 400)]])
    print("\n", json.dumps({"date": time.strftime("%Y-%m-%d")}))


if __name__ == "__main__":
    main()
