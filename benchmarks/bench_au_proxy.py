"""AU readings on real photos, by proxy: how well each AU separates the lfw-expressions photos labelled
with an emotion whose EMFACS prototype uses it from the neutral ones (ROC-AUC), and how often it
reads at A or more on neutral faces.

The FACS-coded faces (`bench_au_facs.py`) are posed peaks at 48×48 in grey; these are real photos
with expression labels, not AU codes — not every surprised face raises its brows — so the AUCs are
lower bounds of what a code would give. Half A (where lfw choices are made) by default; half B is
for reporting. The largest face per photo; the default analyzer unless `--aus` names another
estimator.

    python benchmarks/bench_au_proxy.py [--half A] [--aus facs] [--min-support 0.6]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--half", choices=("A", "B"), default="A")
    ap.add_argument("--aus", default=None, help="an AU estimator name (default: the analyzer's)")
    ap.add_argument("--min-support", type=float, default=0.6,
                    help="an emotion counts for an AU when its prototype's support for it is at least this")
    args = ap.parse_args()

    from ferx import Analyzer
    from ferx.data.readers import identity_half
    from ferx.facs import EMOTION_PROTOTYPES
    from ferx.train.aus.calibration import roc_auc

    rows = [r for r in csv.DictReader(open(LFW / "labels.csv")) if identity_half(r["identity"]) == args.half]
    kwargs = {} if args.aus is None else {"aus": args.aus}
    aus, labels, codes = [], [], ()
    with Analyzer(expression=None, explain=None, **kwargs) as analyzer:
        for r in rows:
            faces = analyzer.analyze(LFW / "images" / r["image"]).faces
            if len(faces) and faces.aus is not None:
                aus.append(faces.aus[int(np.argmax(faces.area))])
                labels.append(r["emotion"])
                codes = faces.au_codes
    a, lab = np.array(aus), np.array(labels)
    neutral = lab == "neutral"
    print(f"lfw-expressions half {args.half}: {len(rows)} photos, {len(a)} with a face ({neutral.sum()} neutral)")
    print(f"| AU | emotions (prototype support ≥ {args.min_support:.1f}) | photos | AUC vs neutral | ≥ A on them "
          "| ≥ A on neutral |")
    print("|---|---|---|---|---|---|")
    for j, code in enumerate(codes):
        number = int(code[2:])
        emotions = [e for e, p in EMOTION_PROTOTYPES.items() if p.supports.get(number, 0.0) >= args.min_support]
        on = np.isin(lab, emotions)
        rest = f"{np.mean(a[neutral, j] >= 1.0):.2f}"
        if not emotions or not on.any():
            print(f"| {code} | – | – | – | – | {rest} |")
            continue
        both = on | neutral
        auc = roc_auc(a[both, j], on[both])
        share = np.mean(a[on, j] >= 1.0)
        print(f"| {code} | {', '.join(emotions)} | {int(on.sum())} | {auc:.3f} | {share:.2f} | {rest} |")


if __name__ == "__main__":
    main()
