"""One-pass detector: does a post-hoc class-prior correction (logit adjustment, Menon et al. 2021) give the
rare labels back? Each class logit minus tau · log(prior), the prior being the mean class score of the
validation mosaics' detections at the face threshold; the stage's defaults otherwise (second read of
large faces). Issue 26 (tried, not kept: docs/results.md).

    cd <folder with runs/cache/onepass> && python PROJECT/benchmarks/probe_onepass_prior.py --data PROJECT/configs/onepass-csp.yaml [--taus 0,0.5,1,2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_onepass_large import predict  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="configs/onepass-csp.yaml")
    ap.add_argument("--taus", default="0,0.25,0.5,0.75,1,1.25,1.5,2")
    args = ap.parse_args()
    from ferx.detect.onepass import LARGE_FACE, LARGE_SIDE, OnnxDetector
    from ferx.facs import EXPRESSIONS
    from ferx.train.onepass.data.store import load_split
    from ferx.train.onepass.evaluate import Prediction, evaluate
    from ferx.train.onepass.photos import group_set, photo_figures, photo_set
    from ferx.train.onepass.train import DetectorTrainConfig
    from ferx.train.runconfig import load_config

    cfg = load_config(DetectorTrainConfig, args.data)
    mosaics, photos = load_split(cfg.data, "val-like-test"), photo_set(cfg.data, "val")
    groups = group_set(photos)
    det = OnnxDetector(threads=2)
    conf, setting = det.default_conf, {"large_face": LARGE_FACE, "large_side": LARGE_SIDE}
    pm = predict(det, list(mosaics.images), 0.01, setting)
    pp, pg = predict(det, photos.images, conf, setting), predict(det, groups.images, conf, setting)
    prior = np.concatenate([p.probs[p.scores >= conf] for p in pm]).mean(0)
    print("prior (mean class score of V1 detections):", {k: round(float(v), 3) for k, v in zip(EXPRESSIONS, prior)})

    def adjusted(preds: list, tau: float) -> list:
        out = []
        for p in preds:
            q = np.clip(p.probs, 1e-6, 1 - 1e-6)
            logit = np.log(q) - np.log1p(-q) - tau * np.log(prior)[None]
            out.append(Prediction(p.boxes, p.scores, 1 / (1 + np.exp(-logit))))
        return out

    print("| tau | V1 expr. mAP50 | V2 label acc. | V2 macro-recall | of all | V3 macro-recall | V2 recall per label |")
    print("|---|---|---|---|---|---|---|")
    for tau in (float(t) for t in args.taus.split(",")):
        m = evaluate(adjusted(pm, tau), mosaics.boxes, mosaics.labels, EXPRESSIONS, conf=conf)
        p, g = photo_figures(adjusted(pp, tau), photos, conf), photo_figures(adjusted(pg, tau), groups, conf)
        per = ", ".join(f"{k} {v['recall']:.2f}" for k, v in p["labels"]["per_label"].items())
        print(f"| {tau:g} | {m['expression_map50']:.3f} | {p['labels']['accuracy']:.3f} | {p['labels']['macro_recall']:.3f} | "
              f"{p['labels_of_all']['macro_recall']:.3f} | {g['labels']['macro_recall']:.3f} | {per} |")


if __name__ == "__main__":
    main()
