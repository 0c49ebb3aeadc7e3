"""Absence sentences of the explanations on the photos coded by eye (data/lfw-au-codes: codes.csv,
codes-jaw.csv, codes-eyes.csv), with the shipped absence checks and without them: how many absence
claims the texts make, and how many of them name an AU coded clearly present (2) in that photo.

    python docs/runs/absence-on-photos-2026-12-07/false_absences.py
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
LFW = ROOT.parent / "shared" / "data" / "lfw-expressions" / "images"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")
_AU = re.compile(r"\bAU(\d+)\b")


def main() -> None:
    from ferx import Analyzer
    from ferx.aus.calibrated import AUCalibration
    from ferx.explain.cot import explain_faces
    from ferx.explain.validate import ABSENCE_CUES

    shipped = AUCalibration.load("au-facs")
    unchecked = dataclasses.replace(shipped, absence_checks={}).profile()
    rows = []
    for table in ("codes.csv", "codes-jaw.csv", "codes-eyes.csv"):
        rows += list(csv.DictReader((ROOT / "data" / "lfw-au-codes" / table).open()))
    counts = {"checked": [0, 0], "unchecked": [0, 0]}
    with Analyzer() as analyzer:
        for r in rows:
            faces = analyzer.analyze(LFW / r["image"]).faces
            if not len(faces):
                continue
            k = int(np.argmax(faces.boxes[:, 2] - faces.boxes[:, 0]))
            face = faces[np.array([k])]
            for name, f in (("checked", face), ("unchecked", face.with_fields(au_profile=unchecked))):
                (e,) = explain_faces(f)
                for sentence in _SENTENCE.split(e.text):
                    if not any(re.search(r"\b" + c + r"\b", sentence.lower()) for c in ABSENCE_CUES):
                        continue
                    for m in _AU.finditer(sentence):
                        code = f"AU{m.group(1)}"
                        if code in e.active_codes:
                            continue
                        counts[name][0] += 1
                        counts[name][1] += r.get(code) == "2"
    for name, (claims, false) in counts.items():
        print(f"{name}: {claims} absence claims in {len(rows)} coded photos' texts, {false} on an AU coded clearly present")


if __name__ == "__main__":
    main()
