"""Are the explanations true to the measurements? Counts of the defects issue 23 names, on every
face of the lfw-expressions photos and of the ckplus-facs coded peaks, through the default analyzer:

(a) absence claims ("absent", "missing", "lacks", "without", "no") that name an AU graded unreliable,
    or one read above `facs.CONFIDENT_ABSENCE` (not confidently low: present, or in between);
(b) contradictory AU pairs printed (`facs.CODING_RULES`: excluded or superseded pairs both among the
    observations, or an implication broken among them);
(c) pattern or compound sentences whose AUs are below band B (or not reliably measured);
(d) texts whose interpretation favours another emotion than the conclusion without saying so
    (`validate.reasoning_issues`: "silent_disagreement");
plus faithfulness-check failures (`validate.validate`), the median number of words, and how often
the conclusion is "uncertain between X and Y". Every target count is 0.

    python benchmarks/bench_explanations.py [--limit N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_AU = re.compile(r"\bAU\s?(\d{1,2})\b")
#: The FACS coding rules (`facs.CODING_RULES`), written out so that the benchmark also scores ferx
#: versions before them: pairs never printed together, and implications.
EXCLUSIVE = (("AU24", "AU25"), ("AU26", "AU27"), ("AU43", "AU5"))
REQUIRES = (("AU26", "AU25"), ("AU27", "AU25"))
#: `facs.CONFIDENT_ABSENCE` (a constant here for the same reason).
CONFIDENT_ABSENCE = 0.5


def defects(e, aus: dict[str, float], profile) -> dict[str, int]:  # noqa: ANN001
    """Counts (a)–(d) and validator failures for one explanation; `aus`: every AU's intensity."""
    from ferx import facs
    from ferx.explain.validate import ABSENCE_CUES, reasoning_issues, validate

    out = {"a_absence": 0, "b_contradiction": 0, "c_weak_pattern": 0, "d_silent": 0, "unfaithful": 0}
    for sentence in _SENTENCE.split(e.text):
        low = sentence.lower()
        if any(re.search(r"\b" + c + r"\b", low) for c in ABSENCE_CUES):
            for m in _AU.finditer(sentence):
                code = f"AU{int(m.group(1))}"
                unit = profile.unit(code)
                if unit is not None and (not unit.absence_reliable or aus.get(code, 0.0) > CONFIDENT_ABSENCE):
                    out["a_absence"] += 1
    active = {o.code: o.intensity for o in e.observations}
    out["b_contradiction"] = sum(all(c in active for c in pair) for pair in EXCLUSIVE) + sum(
        a in active and b not in active for a, b in REQUIRES)
    for key in e.patterns:
        inter = facs.INTERACTIONS_BY_KEY[key]
        strong = [n for n in inter.aus if active.get(f"AU{n}", 0.0) >= facs.PATTERN_MIN_INTENSITY
                  and profile.unit(n).presence_reliable]
        out["c_weak_pattern"] += len(strong) < inter.min_active
    for name in e.compounds:
        compound = next(c for c in facs.COMPOUND_EXPRESSIONS if c.name == name)
        out["c_weak_pattern"] += any(active.get(f"AU{n}", 0.0) < facs.PATTERN_MIN_INTENSITY for n in compound.aus)
    out["d_silent"] = sum(i.kind == "silent_disagreement" for i in reasoning_issues(e.text, e, profile=profile))
    out["unfaithful"] = int(not validate(e.text, e).ok)
    return out


def images(limit: int | None) -> dict[str, list[Path]]:
    lfw = sorted((SHARED / "lfw-expressions" / "images").glob("*"))
    # The coded peak is a sequence's last frame (ckplus-facs/README.md); read here without
    # `ferx.data.coded` so that ferx versions from before it can be scored too.
    last: dict[str, Path] = {}
    for p in sorted((SHARED / "ckplus-facs" / "images").glob("*/*.png")):
        last[p.stem.rsplit("_", 1)[0]] = p
    ck = sorted(last.values())
    return {"lfw-expressions (all photos)": lfw[:limit], "ckplus-facs (coded peaks)": ck[:limit]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    from ferx import Analyzer

    with Analyzer() as analyzer:
        for name, paths in images(args.limit).items():
            totals: dict[str, int] = {}
            words, uncertain, faces = [], 0, 0
            for p in paths:
                r = analyzer.analyze(p)
                for k, e in enumerate(r.faces.explanations or ()):
                    if e is None:
                        continue
                    faces += 1
                    aus = dict(zip(r.faces.au_codes, r.faces.aus[k].tolist()))
                    for key, n in defects(e, aus, r.faces.grading).items():
                        totals[key] = totals.get(key, 0) + n
                    words.append(len(e.text.split()))
                    uncertain += "uncertain" in e.caveats
            print(f"{name}: {len(paths)} images, {faces} faces explained; "
                  + ", ".join(f"{k} {v}" for k, v in totals.items())
                  + f"; words median {statistics.median(words):.0f} (p10 {np.percentile(words, 10):.0f}, "
                    f"p90 {np.percentile(words, 90):.0f}, max {max(words)}); uncertain {uncertain / faces:.1%}")


if __name__ == "__main__":
    sys.exit(main())
