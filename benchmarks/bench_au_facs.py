"""AU readings against FACS codes: any AU estimator on `ckplus-facs`, per AU, subject-wise.

Scores what a user gets: the analyzer (default settings, or `--config`) with the chosen AU stage on
each coded peak frame (the largest face; an image where no face is found reads as absent for every
AU), per AU the ROC-AUC of the reported intensity against the coders' presence, and F1, precision
and recall of "present" (intensity ≥ 1, band A). The mean runs over the AUs with at least 10 coded
occurrences (the protocol of ckplus-facs/README.md).

An estimator whose calibration was fitted on these faces (`facs`, `blendshapes`: their readings'
measures, thresholds and mid points come from ckplus-facs) would be scored on the faces it was
fitted on; for those, `--cv` (the default for them) refits the calibration without each subject and
scores that subject's faces with it (leave-one-subject-out, `ferx.train.aus.calibration`) — the
figure to report. `--as-shipped` scores the shipped calibration anyway (optimistic, for reference).

It also prints the AU-only expression accuracy (the prototype codebook on the AUs, with the
estimator's own scoring) on the validation sets lfw-expressions half A and FER+ Valid, and the AU
stage's time per face.

    python benchmarks/bench_au_facs.py                       # the default estimator (facs), cross-validated
    python benchmarks/bench_au_facs.py --aus blendshapes     # the mesh alone
    PYTHONPATH=/path/to/old/ferx/src python benchmarks/bench_au_facs.py --aus image-heads   # an older ferx, as shipped

It runs on any ferx version that has `Analyzer(aus=NAME)`; only `--cv` needs this one.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MEAN_MIN_POSITIVES = 10


def roc_auc(scores: np.ndarray, present: np.ndarray) -> float:
    """ROC-AUC, ties counted half; NaN scores rank lowest. The same as
    `ferx.train.aus.calibration.roc_auc`, kept here so that the benchmark scores older ferx versions,
    which do not have it."""
    y = np.asarray(present, bool)
    s = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
    npos, nneg = int(y.sum()), int((~y).sum())
    if not npos or not nneg:
        return float("nan")
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def coded_peaks(root: Path) -> tuple[list[Path], list[str], dict[str, np.ndarray]]:
    """Peak frames (the last of each sequence), their subjects and AU presence (AU code → (N,) bool)."""
    rows = {r["sequence"]: r for r in csv.DictReader((root / "labels.csv").open())}
    last: dict[str, Path] = {}
    for p in sorted((root / "images").rglob("*.png")):
        seq = p.stem.rpartition("_")[0]
        if seq not in last or p.stem > last[seq].stem:
            last[seq] = p
    seqs = sorted(last)
    codes = [c for c in next(iter(rows.values())) if c.startswith("AU")]
    return ([last[s] for s in seqs], [rows[s]["subject"] for s in seqs],
            {c: np.array([rows[s][c] == "1" for s in seqs]) for c in codes})


def score(aus: np.ndarray, au_codes: tuple[str, ...], present: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for code, y in present.items():
        if code not in au_codes or not y.any():
            continue
        v = aus[:, au_codes.index(code)]
        p = np.nan_to_num(v, nan=0.0) >= 1.0
        tp = int((p & y).sum())
        out[code] = {"positives": int(y.sum()), "auc": roc_auc(v, y), "f1": 2 * tp / max(int(p.sum() + y.sum()), 1),
                     "precision": tp / p.sum() if p.sum() else 0.0, "recall": tp / y.sum()}
    return out


def summary(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    rows = [r for r in scores.values() if r["positives"] >= MEAN_MIN_POSITIVES]
    return {"aus": len(rows), "mean_auc": float(np.mean([r["auc"] for r in rows])),
            "mean_f1": float(np.mean([r["f1"] for r in rows]))}


def largest(faces):  # noqa: ANN001, ANN201 - any ferx version's Faces (before issue 22 they had no .largest)
    k = int(np.argmax((faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])))
    return faces[[k]]


def read_aus(analyzer, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, list, list[float]]:  # noqa: ANN001
    """(N, K) AUs of the largest face per image (NaN where none), (N, 52) blendshapes, the faces' profile
    (one per image, None where no face) and the AU stage's time per face (ms)."""
    from ferx.facs import AU_CODES

    aus = np.full((len(paths), len(AU_CODES)), np.nan, np.float32)
    blend = np.full((len(paths), 52), np.nan, np.float32)
    profiles: list = [None] * len(paths)
    times = []
    for i, p in enumerate(paths):
        r = analyzer.analyze(p)
        if not len(r.faces):
            continue
        f = largest(r.faces)
        aus[i], blend[i], profiles[i] = f.aus[0], f.blendshapes[0], f.au_profile
        times.append(r.timings_ms.get("aus", float("nan")) / len(r.faces))
    return aus, blend, profiles, times


def au_only_accuracy(aus: np.ndarray, blend: np.ndarray, profiles: list, labels: np.ndarray) -> tuple[float, int]:
    """AU-only expression accuracy of the faces found (each face scored with its own profile)."""
    from ferx import facs

    ok = np.array([p is not None for p in profiles])
    if not ok.any():
        return float("nan"), 0
    profile = next(p for p in profiles if p is not None)
    clean = np.nan_to_num(aus[ok])
    ev = facs.au_evidence(clean, facs.one_sidedness(clean, blend[ok]), profile)
    prob = facs.evidence_probabilities(ev, profile.neutral_evidence, profile.temperature)
    pred = np.array(facs.EXPRESSIONS)[prob.argmax(1)]
    return float((pred == labels[ok]).mean()), int(ok.sum())


def validation_sets(limit: int) -> dict[str, tuple[list[Path], np.ndarray]]:
    from ferx.data.readers import open_dataset

    lfw = open_dataset(f"lfw-expressions:{SHARED / 'lfw-expressions'}", "val", partition="halves").samples
    fer = open_dataset(f"ferplus:{SHARED / 'ferplus'}", "val").samples
    out = {}
    for name, samples in (("lfw half A", lfw), ("FER+ Valid", fer)):
        samples = samples[:limit] if limit else samples
        out[name] = ([s.path for s in samples], np.array([s.label for s in samples]))
    return out


def cross_validated(stage_calibration, paths: list[Path], subjects: list[str], present: dict[str, np.ndarray],
                    cache: Path | None) -> np.ndarray:  # noqa: ANN001
    """Out-of-fold intensities: the calibration procedure refitted without each subject."""
    from ferx.data.coded import read_coded_faces  # noqa: F401  (this ferx has the fitting code)
    from ferx.facs import AU_NUMBERS
    from ferx.train.aus.calibration import Standardisation, candidate_measures, cross_validate, measure_images, reference_faces

    heads = stage_calibration.heads if any(m.split(":")[0].lstrip("-") == "h" for m in stage_calibration.measures) else None
    names = candidate_measures(heads is not None)
    coded = measure_images(paths, names, heads, progress=False, cache=cache)
    reference, labels = reference_faces(SHARED / "lfw-expressions", names, heads, progress=False, cache=cache)
    neutral = labels == "neutral"
    std = Standardisation.fit(reference, neutral)
    pres = {int(c[2:]): y for c, y in present.items() if int(c[2:]) in AU_NUMBERS}
    return cross_validate(coded, pres, np.array(subjects), reference, neutral, std, heads, stage_calibration.heads_sha256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aus", help="AU estimator (registered name); default: the analyzer's default")
    ap.add_argument("--config", help="analyzer YAML (instead of the defaults)")
    ap.add_argument("--coded", type=Path, default=SHARED / "ckplus-facs")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--cv", action="store_true", help="refit the calibration without each subject (default for "
                      "estimators calibrated on these faces)")
    mode.add_argument("--as-shipped", action="store_true", help="score the shipped calibration on the faces it was fitted on")
    ap.add_argument("--no-validation", action="store_true", help="skip the AU-only accuracy on lfw half A and FER+ Valid")
    ap.add_argument("--limit", type=int, default=0, help="first N images of each validation set (0 = all)")
    ap.add_argument("--cache", type=Path, help="measurement cache for --cv (ferx.train.aus.calibration)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    import ferx
    from ferx import Analyzer
    from ferx.facs import AU_CODES

    overrides = {"expression": None, "explain": None}
    if args.aus:
        overrides["aus"] = args.aus
    analyzer = Analyzer(args.config, **overrides) if args.config else Analyzer(**overrides)
    from ferx.stages import AU_ESTIMATORS

    with AU_ESTIMATORS.create(analyzer.config.aus.name, **analyzer.config.aus.options) as stage:
        calibration = getattr(stage, "calibration", None)  # an estimator calibrated on coded faces has one
    fitted_here = calibration is not None and "ckplus" in str(calibration.info.get("coded_faces", ""))
    use_cv = args.cv or (fitted_here and not args.as_shipped)
    paths, subjects, present = coded_peaks(args.coded)
    t0 = time.time()
    aus, _, _, times = read_aus(analyzer, paths)
    found = int(np.isfinite(aus).all(axis=1).sum())
    if use_cv:
        aus = cross_validated(calibration, paths, subjects, present, args.cache)
    scores = score(aus, AU_CODES, present)
    s = summary(scores)
    name = args.aus or analyzer.config.aus.name
    how = "subject-wise cross-validated (leave-one-subject-out refit)" if use_cv else (
        "as shipped, on the faces it was fitted on (optimistic)" if fitted_here else "as shipped (nothing fitted on these faces)")
    print(f"ferx {getattr(ferx, '__version__', '?')} ({Path(ferx.__file__).parent}); AU estimator {name!r}; {how}")
    print(f"ckplus-facs: {len(paths)} coded peak frames, {len(set(subjects))} subjects; a face found in {found}; "
          f"{time.time() - t0:.0f} s")
    print(f"{'AU':>5} {'n':>4} {'AUC':>6} {'F1':>6} {'P':>6} {'R':>6}")
    for code, r in scores.items():
        mark = "" if r["positives"] >= MEAN_MIN_POSITIVES else "   (fewer than 10 coded: not in the mean)"
        print(f"{code:>5} {r['positives']:4d} {r['auc']:6.3f} {r['f1']:6.3f} {r['precision']:6.3f} {r['recall']:6.3f}{mark}")
    print(f"mean over {s['aus']} AUs with >= {MEAN_MIN_POSITIVES} occurrences: AUC {s['mean_auc']:.3f}, F1 {s['mean_f1']:.3f}")
    print(f"AU stage: {np.median(times):.2f} ms per face (median over the coded faces, threads as configured)")
    result = {"estimator": name, "mode": "cv" if use_cv else "as-shipped", "per_au": scores, "summary": s,
              "found": found, "faces": len(paths), "au_stage_ms_per_face": float(np.median(times))}
    if not args.no_validation:
        result["au_only"] = {}
        for vname, (vpaths, labels) in validation_sets(args.limit).items():
            a, b, profiles, _ = read_aus(analyzer, vpaths)
            acc, n = au_only_accuracy(a, b, profiles, labels)
            result["au_only"][vname] = {"accuracy": acc, "faces": n, "images": len(vpaths)}
            print(f"AU-only expression accuracy, {vname}: {acc:.3f} ({n} faces of {len(vpaths)} images)")
    analyzer.close()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
