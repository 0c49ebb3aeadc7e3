"""AU-evidence fusion (issue 14): does a small head over the classifier's log-probabilities and the
image heads' AU intensities beat the classifier alone, across datasets?

Per face, through the analyzer's own stages on the cached mesh of `au_features.py` (so every face is
framed as in use): the `onnx-classifier` probabilities and the default AU estimator's intensities
(`facs`, the calibrated readings). Sets: FER+ Valid / Test (FER+'s 48×48 images), lfw-expressions
identity halves A / B (photos, largest face).

The fusion head is a multinomial logistic regression on [log p (8), AU / 5 (K)], fitted with L2 by
LBFGS on held-out data only — never on data the classifier was trained on — with plain or
class-balanced cross-entropy. The choice (fusion or not, L2 strength, balancing) is made by 5-fold cross-validation over FER+ Valid + lfw half A, identity
grouped for lfw; only the chosen configuration is then fitted on all of FER+ Valid + lfw half A and
reported once on FER+ Test and lfw half B. Shipping criterion (stated before the run): the fusion
ships only if its cross-validated accuracy on FER+ Valid is not lower than the classifier's by more
than 0.3 points AND its cross-validated lfw half A macro-recall is higher by at least 2 points.

    python benchmarks/au_features.py        # once: caches in ../runs/ferx-aus
    python benchmarks/bench_au_fusion.py [--report]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from au_features import DEFAULT_CACHE, ferplus_features, lfw_features, through_stages  # noqa: E402

from ferx.facs import EXPRESSIONS  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
L2 = (1e-4, 1e-3, 1e-2, 1e-1)


def stage_outputs(images: list[Path], landmarks: np.ndarray, blendshapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 8) classifier probabilities and (N, K) AU intensities from the default stages."""
    from ferx.pipeline import Analyzer  # registers the backends
    from ferx.stages import AU_ESTIMATORS, EXPRESSION_CLASSIFIERS

    del Analyzer
    stages = [AU_ESTIMATORS.create("facs"), EXPRESSION_CLASSIFIERS.create("onnx-classifier")]
    probs, aus = [], []
    for f in through_stages(stages, images, landmarks, blendshapes):
        probs.append(f.expression[0][[f.expression_labels.index(e) for e in EXPRESSIONS]])
        aus.append(f.aus[0])
    return np.array(probs, np.float64), np.nan_to_num(np.array(aus, np.float64))


def load_sets(cache: Path) -> dict[str, dict[str, np.ndarray]]:
    path = cache / "fusion-sets.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, dict[str, np.ndarray]] = {}
            for k in z.files:
                s, _, field = k.partition("/")
                out.setdefault(s, {})[field] = z[k]
            return out
    sets: dict[str, dict[str, np.ndarray]] = {}
    lfw = lfw_features(cache)
    paths = [SHARED / "lfw-expressions" / "images" / str(n) for n in lfw["image"]]
    p, a = stage_outputs(paths, lfw["landmarks"], lfw["blendshapes"])
    for half in ("A", "B"):
        m = lfw["half"] == half
        sets[f"lfw-{half.lower()}"] = {"probs": p[m], "aus": a[m], "label": lfw["label"][m], "group": lfw["identity"][m]}
    for split in ("val", "test"):
        d = ferplus_features(cache, split)
        paths = [SHARED / "ferplus" / str(n) for n in d["image"]]
        p, a = stage_outputs(paths, d["landmarks"], d["blendshapes"])
        sets[f"ferplus-{split}"] = {"probs": p, "aus": a, "label": d["label"], "group": np.array([str(n) for n in d["image"]])}
    np.savez_compressed(path, **{f"{s}/{k}": v for s, d in sets.items() for k, v in d.items()})
    return sets


def features(d: dict[str, np.ndarray], with_aus: bool) -> np.ndarray:
    x = [np.log(np.clip(d["probs"], 1e-6, 1))]
    if with_aus:
        x.append(np.clip(d["aus"], 0, 5) / 5.0)
    return np.concatenate(x, 1)


def fit(x: np.ndarray, y: np.ndarray, l2: float, balanced: bool = False) -> tuple[np.ndarray, np.ndarray]:
    import torch

    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    counts = torch.bincount(yt, minlength=len(EXPRESSIONS)).float().clamp(min=1)
    weight = (counts.sum() / counts / len(EXPRESSIONS)) if balanced else None
    w = torch.zeros(x.shape[1], len(EXPRESSIONS), requires_grad=True)
    b = torch.zeros(len(EXPRESSIONS), requires_grad=True)
    with torch.no_grad():  # start at the classifier: identity on the log-probabilities
        w[: len(EXPRESSIONS)] = torch.eye(len(EXPRESSIONS))
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, weight=weight) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def predict(x: np.ndarray, wb: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return (x @ wb[0] + wb[1]).argmax(1)


def metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    present = np.unique(y)
    return {"accuracy": float((pred == y).mean()),
            "macro_recall": float(np.mean([(pred[y == k] == k).mean() for k in present]))}


def folds(groups: np.ndarray, k: int = 5) -> np.ndarray:
    import hashlib

    return np.array([int(hashlib.md5(str(g).encode()).hexdigest(), 16) % k for g in groups])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--report", action="store_true", help="fit the chosen head on all validation data and "
                    "report FER+ Test and lfw half B (once)")
    args = ap.parse_args()
    sets = load_sets(args.cache)
    y = {s: np.array([EXPRESSIONS.index(str(v)) for v in d["label"]]) for s, d in sets.items()}
    val = ("ferplus-val", "lfw-a")
    fold = {s: folds(sets[s]["group"]) for s in val}
    print("classifier alone: " + " | ".join(f"{s} {json.dumps({k: round(v, 4) for k, v in metrics(sets[s]['probs'].argmax(1), y[s]).items()})}" for s in sets))
    results = {}
    for with_aus, balanced in ((False, False), (True, False), (True, True)):
        for l2 in L2:
            preds = {s: np.zeros_like(y[s]) for s in val}
            for k in range(5):
                train_x = np.concatenate([features(sets[s], with_aus)[fold[s] != k] for s in val])
                train_y = np.concatenate([y[s][fold[s] != k] for s in val])
                wb = fit(train_x, train_y, l2, balanced)
                for s in val:
                    m = fold[s] == k
                    preds[s][m] = predict(features(sets[s], with_aus)[m], wb)
            results[with_aus, l2, balanced] = {s: metrics(preds[s], y[s]) for s in val}
            r = results[with_aus, l2, balanced]
            print(f"5-fold CV, {'log p + AUs' if with_aus else 'log p only'}{', class-balanced' if balanced else ''}, L2 {l2:g}: "
                  + " | ".join(f"{s} acc {100 * r[s]['accuracy']:.1f} % macro-recall {100 * r[s]['macro_recall']:.1f} %" for s in val))
    base = {s: metrics(sets[s]["probs"].argmax(1), y[s]) for s in val}
    best = max((k for k in results if k[0]), key=lambda k: results[k]["ferplus-val"]["accuracy"] + results[k]["lfw-a"]["macro_recall"])
    r = results[best]
    ships = (r["ferplus-val"]["accuracy"] >= base["ferplus-val"]["accuracy"] - 0.003
             and r["lfw-a"]["macro_recall"] >= base["lfw-a"]["macro_recall"] + 0.02)
    print(f"chosen: log p + AUs{', class-balanced' if best[2] else ''}, L2 {best[1]:g}; criterion {'MET' if ships else 'not met'} "
          f"(FER+ val acc {100 * r['ferplus-val']['accuracy']:.1f} vs {100 * base['ferplus-val']['accuracy']:.1f}; "
          f"lfw A macro-recall {100 * r['lfw-a']['macro_recall']:.1f} vs {100 * base['lfw-a']['macro_recall']:.1f})")
    if args.report:
        wb = fit(np.concatenate([features(sets[s], True) for s in val]), np.concatenate([y[s] for s in val]), best[1], best[2])
        for s in ("ferplus-test", "lfw-b"):
            print(f"held out {s}: classifier {metrics(sets[s]['probs'].argmax(1), y[s])} | fusion "
                  f"{metrics(predict(features(sets[s], True), wb), y[s])}")


if __name__ == "__main__":
    main()
