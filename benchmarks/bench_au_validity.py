"""AU validity, calibration evidence, reliability grades and AU-only expression accuracy.

Reads the cached measurements of `au_features.py` (lfw-expressions photos through the analyzer;
FER+ crops through the mesh) and scores the AU table of `ferx.facs` against the expression labels:

1. Calibration evidence (lfw half A only): per AU source, percentiles on neutral faces and on the
   labels whose prototype uses the AU. `rest` sits near the neutral 90th percentile, `full` near
   the expressive 95th.
2. Validity per AU (EMFACS prototypes of `facs.EMOTION_PROTOTYPES`): how often the AU occurs (band
   A or more) on the labels whose prototype uses it, on neutral faces and on the other labels, and
   the AUC prototype labels vs neutral; the grade `facs.ActionUnit.reliability` follows from the
   half-A AUC (half B, FER+ val/test shown beside it as checks).
3. AU-only expression accuracy (the prototype codebook on the AUs, `ferx.explain.cot`'s evidence):
   neutral level and softmax temperature chosen on lfw half A (accuracy, then log-loss), reported
   on lfw half B (held out), all lfw, FER+ val and FER+ test.

`--before FILE` scores an older `facs.py` (e.g. `git show HEAD:src/ferx/facs.py > /tmp/facs_before.py`)
with the same labels and prototypes, for the before/after table.

    python benchmarks/au_features.py        # once: caches in ../runs/ferx-aus
    python benchmarks/bench_au_validity.py [--before /tmp/facs_before.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from au_features import DEFAULT_CACHE, ferplus_features, lfw_features, through_stages  # noqa: E402

from ferx import facs  # noqa: E402
from ferx.explain.cot import evidence_probabilities  # noqa: E402

#: Choices searched on lfw half A for the AU-only scorer.
NEUTRAL_LEVELS = tuple(np.round(np.arange(0.04, 0.26, 0.01), 2))
TEMPERATURES = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)


def load_facs(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("facs_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["facs_before"] = mod  # dataclasses look their module up while the class is made
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve (ties count half)."""
    if not len(pos) or not len(neg):
        return float("nan")
    x = np.concatenate([pos, neg])
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    xs = x[order]
    i = 0
    while i < len(xs):  # average ranks of ties
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def users(number: int) -> list[str]:
    """Labels whose (current) prototype uses AU `number`."""
    return [e for e, p in facs.EMOTION_PROTOTYPES.items() if number in p.supports]


def grading_labels(number: int) -> list[str]:
    """Labels an AU is graded on: those whose prototype holds it as a defining AU (weight >= 0.8),
    else all that use it. (AU4 is graded on anger: sadness and fear raise the inner brows, AU1,
    which moves the same brows the other way.)"""
    core = [e for e in facs.EXPRESSIONS if number in facs.core_aus(e)]
    return core or users(number)


def intensities(mod: ModuleType, d: dict[str, np.ndarray]) -> np.ndarray:
    """(N, K) intensities in the *current* AU order (AUs the module lacks are NaN)."""
    aus = mod.au_intensities(d["blendshapes"], d["landmarks"])
    out = np.full((len(aus), len(facs.AU_CODES)), np.nan, np.float32)
    for j, code in enumerate(mod.AU_CODES):
        if code in facs.AU_CODES:
            out[:, facs.AU_CODES.index(code)] = aus[:, j]
    return out


def evidence(mod: ModuleType, aus: np.ndarray, d: dict[str, np.ndarray], measured: np.ndarray) -> np.ndarray:
    """(N, 8) prototype evidence of module `mod`'s codebook (the formula of ferx.explain.cot)."""
    codes = facs.AU_CODES
    a = np.clip(np.nan_to_num(aus) / 5.0, 0, 1)
    out = np.zeros((len(aus), len(facs.EXPRESSIONS)), np.float32)
    for j, e in enumerate(facs.EXPRESSIONS):
        proto = mod.EMOTION_PROTOTYPES.get(e)
        if proto is None:
            continue
        if proto.unilateral:
            w = np.array([proto.supports[n] for n in proto.unilateral], np.float32)
            asym = np.stack([mod.au_asymmetry(n, d["blendshapes"]) / 5.0 for n in proto.unilateral], 1)
            out[:, j] = asym @ w / w.sum()
            continue
        seen = {n: w for n, w in proto.supports.items() if f"AU{n}" in codes and measured[codes.index(f"AU{n}")]}
        core = [n for n, w in proto.supports.items() if w >= 0.8 and f"AU{n}" in codes]
        if not any(measured[codes.index(f"AU{n}")] for n in core):
            continue
        w = np.array(list(seen.values()), np.float32)
        out[:, j] = a[:, [codes.index(f"AU{n}") for n in seen]] @ w / w.sum()
        opp = [codes.index(f"AU{n}") for n in proto.opposes if measured[codes.index(f"AU{n}")]]
        if opp:
            out[:, j] -= 0.5 * a[:, opp].max(axis=1)
    return out


def validity_rows(aus: np.ndarray, labels: np.ndarray) -> dict[str, tuple[float, float, float, float, int]]:
    """AU code → (occurrence on its labels, on neutral, on other labels, AUC its labels vs neutral, n)."""
    out = {}
    for j, au in enumerate(facs.AU_TABLE):
        if not np.isfinite(aus[:, j]).any():
            continue
        u = grading_labels(au.number)
        if not u:
            continue
        pos, neu = np.isin(labels, u), labels == "neutral"
        other = ~pos & ~neu & (labels != "contempt") if au.number != 14 else ~pos & ~neu
        occ = aus[:, j] >= facs.OCCURRENCE_THRESHOLD
        out[au.code] = (occ[pos].mean(), occ[neu].mean(), occ[other].mean(), auc(aus[pos, j], aus[neu, j]), int(pos.sum()))
    return out


def accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float, dict[str, float]]:
    pred = np.array(facs.EXPRESSIONS)[probs.argmax(1)]
    recall = {e: float((pred[labels == e] == e).mean()) for e in facs.EXPRESSIONS if (labels == e).sum()}
    return float((pred == labels).mean()), float(np.mean(list(recall.values()))), recall


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    idx = np.array([facs.EXPRESSIONS.index(e) for e in labels])
    return float(-np.log(np.clip(probs[np.arange(len(labels)), idx], 1e-9, 1)).mean())


def choose_scoring(ev: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Neutral level by accuracy on the given (choice) data, then the temperature by log-loss."""
    best = max(NEUTRAL_LEVELS, key=lambda n: (accuracy(evidence_probabilities(ev, n, 0.05), labels)[0], -n))
    temp = min(TEMPERATURES, key=lambda t: log_loss(evidence_probabilities(ev, best, t), labels))
    return float(best), float(temp)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--before", type=Path, help="an older facs.py to compare with")
    ap.add_argument("--show", type=int, default=0, help="print this many example explanations")
    ap.add_argument("--explain-only", choices=("blendshapes", "image-heads"),
                    help="only the explanation checks on every lfw face, with this AU estimator")
    args = ap.parse_args()
    lfw = lfw_features(args.cache)
    if args.show or args.explain_only:
        explanation_checks(lfw, args.show, args.explain_only or "blendshapes")
        return
    fer = {sp: ferplus_features(args.cache, sp) for sp in ("val", "test")}
    A, B = lfw["half"] == "A", lfw["half"] == "B"
    sets = {"lfw A": (lfw, A), "lfw B": (lfw, B), "FER+ val": (fer["val"], None), "FER+ test": (fer["test"], None)}

    # 1. calibration evidence on lfw half A
    print("## Calibration evidence (lfw half A): source value percentiles\n")
    print(f"{'AU':>5} {'source':<24} {'rest':>5} {'full':>5} | neutral p50 p90 | its labels p50 p95 (labels)")
    la = lfw["label"][A]
    for au in facs.AU_TABLE:
        sides = facs.source_values(au, lfw["blendshapes"][A], lfw["landmarks"][A]).max(axis=1)
        neutral = sides[la == "neutral"]
        u = users(au.number)
        expressive = sides[np.isin(la, u)] if u else sides[la != "neutral"]
        print(f"{au.code:>5} {au.sources[0]:<24} {au.rest:5.2f} {au.full:5.2f} | {np.percentile(neutral, 50):6.3f} "
              f"{np.percentile(neutral, 90):6.3f} | {np.percentile(expressive, 50):6.3f} "
              f"{np.percentile(expressive, 95):6.3f} ({','.join(u) or 'all'})")

    # 2. validity per AU, before / after
    mods = {"after": facs}
    if args.before:
        mods = {"before": load_facs(args.before), "after": facs}
    print("\n## AU validity: occurrence (band A+) on the labels whose prototype uses the AU / on neutral / "
          "on other labels, and AUC its labels vs neutral\n")
    header = "| AU | labels | grade | " + " | ".join(f"{m} {s}" for m in mods for s in ("lfw A", "lfw B", "FER+ val", "FER+ test")) + " |"
    print(header + "\n" + "|---" * (header.count("|") - 1) + "|")
    rows = {}
    for m, mod in mods.items():
        for name, (d, mask) in sets.items():
            aus = intensities(mod, d)
            lab = d["label"]
            if mask is not None:
                aus, lab = aus[mask], lab[mask]
            rows[m, name] = validity_rows(aus, lab)
    for au in facs.AU_TABLE:
        if au.code not in rows["after", "lfw A"]:
            continue
        cells = []
        for m in mods:
            for s in ("lfw A", "lfw B", "FER+ val", "FER+ test"):
                r = rows[m, s].get(au.code)
                cells.append("–" if r is None else f"{100 * r[0]:.0f}/{100 * r[1]:.0f}/{100 * r[2]:.0f} % AUC {r[3]:.2f}")
        print(f"| {au.code} | {','.join(grading_labels(au.number))} | {au.reliability} | " + " | ".join(cells) + " |")
    print("\nvalidity for facs.AU_TABLE = mean AUC of lfw half A and FER+ val (choice data; the grading "
          "labels' faces vs neutral faces; AU14 on FER+ val alone: lfw has 4 contempt faces):")
    for au in facs.AU_TABLE:
        ra, rv = rows["after", "lfw A"].get(au.code), rows["after", "FER+ val"].get(au.code)
        if ra is None or rv is None:
            continue
        v = rv[3] if au.number == 14 else (ra[3] + rv[3]) / 2
        print(f"  {au.code} ({','.join(grading_labels(au.number))}): lfw A {ra[3]:.2f} (n={ra[4]}), FER+ val {rv[3]:.2f} "
              f"(n={rv[4]}) → {v:.2f}; table {au.validity} → {au.reliability}")

    # 3. AU-only accuracy
    print("\n## AU-only expression accuracy (prototype codebook on the AUs)\n")
    for m, mod in mods.items():
        measured = facs.AU_MEASURED if m == "after" else np.ones(len(facs.AU_CODES), bool)
        ev = {name: evidence(mod, intensities(mod, d), d, measured) for name, d in
              (("lfw", lfw), ("FER+ val", fer["val"]), ("FER+ test", fer["test"]))}
        if m == "before":
            neutral, temp = 0.15, 0.05  # the settings shipped before (chosen by hand)
        else:
            neutral, temp = choose_scoring(ev["lfw"][A], lfw["label"][A])
        print(f"{m}: neutral evidence {neutral}, temperature {temp}")
        for name, e, lab in (("lfw A (choices)", ev["lfw"][A], lfw["label"][A]),
                             ("lfw B (held out)", ev["lfw"][B], lfw["label"][B]),
                             ("lfw all", ev["lfw"], lfw["label"]),
                             ("FER+ val", ev["FER+ val"], fer["val"]["label"]),
                             ("FER+ test", ev["FER+ test"], fer["test"]["label"])):
            p = evidence_probabilities(e, neutral, temp)
            acc, bal, rec = accuracy(p, lab)
            conf = p.max(1)
            print(f"  {name:18s} n={len(lab):5d} accuracy {100 * acc:5.1f} % balanced {100 * bal:5.1f} % "
                  f"log-loss {log_loss(p, lab):.3f} mean top prob {conf.mean():.2f} | "
                  + " ".join(f"{k[:4]} {v:.2f}" for k, v in rec.items()))
    explanation_checks(lfw)


def estimator_aus(lfw: dict[str, np.ndarray], estimator: str) -> tuple[np.ndarray, "facs.AUProfile"]:
    """(N, K) AUs of every cached lfw face from the named AU estimator stage, and its profile (the
    image heads read each photo again, on the cached landmarks)."""
    if estimator == "blendshapes":
        return facs.au_intensities(lfw["blendshapes"], lfw["landmarks"]), facs.MESH_PROFILE
    from ferx.pipeline import Analyzer  # registers the backends
    from ferx.stages import AU_ESTIMATORS

    del Analyzer
    stage = AU_ESTIMATORS.create(estimator)
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-expressions" / "images"
    paths = [root / str(name) for name in lfw["image"]]
    rows = [f.aus[0] for f in through_stages([stage], paths, lfw["landmarks"], lfw["blendshapes"])]
    return np.stack(rows), stage.profile


def explanation_checks(lfw: dict[str, np.ndarray], show: int = 0, estimator: str = "blendshapes") -> None:
    """Explanations of every lfw face (AUs from `estimator` + the classifier's probabilities from the cache)."""
    import statistics

    from ferx import Faces
    from ferx.explain.cot import explain_faces
    from ferx.explain.validate import reasoning_issues, validate

    n = len(lfw["label"])
    aus, profile = estimator_aus(lfw, estimator)
    faces = Faces(np.tile([[0, 0, 10, 10]], (n, 1)), np.ones(n), np.zeros((n, 5, 2)), blendshapes=lfw["blendshapes"],
                  aus=aus, expression=lfw["probs"], au_profile=profile)
    expl = explain_faces(faces)
    words = [len(e.text.split()) for e in expl]
    invalid = sum(not validate(e.text, e).ok for e in expl)
    issues = [reasoning_issues(e.text, e, profile=profile) for e in expl]
    silent = sum(any(i.kind == "silent_disagreement" for i in iss) for iss in issues)
    absent = sum(any(i.kind == "absent_unreliable" for i in iss) for iss in issues)
    departs = sum(e.label != e.au_label for e in expl)
    print(f"\n## Explanations of all {n} lfw faces (AUs: {profile.name}; classifier = the analyzer's default)\n")
    print(f"validator failures {invalid}; conclusion departs from the AU reading in {departs} "
          f"({100 * departs / n:.1f} %), of which said nowhere: {silent}; 'absent' said of an AU graded below "
          f"fair: {absent}; words median {statistics.median(words):.0f} (10th-90th percentile "
          f"{np.percentile(words, 10):.0f}-{np.percentile(words, 90):.0f})")
    for e in expl[:: max(1, n // show)] if show else ():
        print("\n" + e.text)


if __name__ == "__main__":
    main()
