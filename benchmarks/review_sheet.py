"""The texts of a review sheet: for each photo of a set file, the default analyzer's explanation of
its largest face, with the AUs read at 0.5 or more (issue 23's review; docs/explanations.md).

Set file lines: `<dataset label> <lfw-expressions image name> <what the reviewer saw>`; `#` comments.

    python benchmarks/review_sheet.py docs/runs/explanation-review-2026-12-06/set.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions" / "images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set_file", type=Path)
    args = ap.parse_args()
    from ferx import Analyzer

    rows = [line.split(None, 2) for line in args.set_file.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    with Analyzer() as analyzer:
        for label, name, _ in rows:
            faces = analyzer.analyze(LFW / name).faces
            if not len(faces):
                print(f"### {name} (labelled {label})\nno face found\n")
                continue
            k = int(np.argmax(faces.boxes[:, 2] - faces.boxes[:, 0]))
            aus = {c: round(float(v), 1) for c, v in zip(faces.au_codes, faces.aus[k]) if v >= 0.5}
            e = faces.explanations[k]
            print(f"### {name} (labelled {label})\nAUs ≥ 0.5: {aus}\n{e.text}\nwords {len(e.text.split())}\n")


if __name__ == "__main__":
    sys.exit(main())
