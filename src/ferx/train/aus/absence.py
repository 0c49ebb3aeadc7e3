"""Whether an AU's absence may be stated: its readings on real photos coded by eye.

A calibration's grades come from FACS-coded CK+ peaks (posed, frontal, lit): there a clear smile is
rarely read below A. On real photos it is: 5 of 27 clear AU12s on the coded lfw photos read at or
below `facs.CONFIDENT_ABSENCE`, which the explanations called "no lip-corner pull" (issue 23's
review: a laugh). `check_absence` counts, per AU, the clear occurrences in the coded tables and how many
of them the shipped pipeline reads as confidently absent (the largest face of each photo, readings
after `facs.resolve_conflicts`, as the explainer sees them); `facs.ActionUnit.absence_reliable` uses
the counts. Written into the calibration JSON (`absence_checks`) by

    python -m ferx.train.aus absence --calibration src/ferx/assets/models/au-facs.json \\
        --photo-codes data/lfw-au-codes/codes.csv --photo-codes data/lfw-au-codes/codes-jaw.csv \\
        --photo-codes data/lfw-au-codes/codes-eyes.csv --write
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ferx.data.coded import read_photo_codes
from ferx.facs import AU_CODES, CONFIDENT_ABSENCE, resolve_conflicts

#: A code of 2 in the tables: the AU is clearly there (1 is doubtful, 0 absent).
CLEAR = 2.0


def check_absence(calibration: Path | str, tables: Iterable[tuple[Path, Path]]) -> dict[int, tuple[int, int]]:
    """AU number → (misses, clear) over the coded photos of `tables` ((table, images folder) pairs).

    A photo without a face counts for nothing (its AUs were not read). Every AU a table codes is
    counted; the calibration's AU stage reads the faces, with the rest of the default pipeline.
    """
    from ferx import Analyzer

    counts: dict[int, list[int]] = {}
    with Analyzer(aus={"name": "facs", "options": {"calibration": str(calibration)}}) as analyzer:
        for table, images in tables:
            codes = read_photo_codes(table, images)
            for path, levels in zip(codes.paths, codes.levels):
                faces = analyzer.analyze(path).faces
                if not len(faces):
                    continue
                k = int(faces.largest_rows(1)[0])
                read = dict(zip(faces.au_codes, resolve_conflicts(faces.aus[k:k + 1], tuple(faces.au_codes))[0]))
                for number, level in zip(codes.aus, levels):
                    if level != CLEAR or f"AU{number}" not in read:
                        continue
                    c = counts.setdefault(number, [0, 0])
                    c[0] += int(read[f"AU{number}"] <= CONFIDENT_ABSENCE)
                    c[1] += 1
    return {n: (m, c) for n, (m, c) in sorted(counts.items(), key=lambda kv: AU_CODES.index(f"AU{kv[0]}"))}
