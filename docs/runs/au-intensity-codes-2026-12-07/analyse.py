"""Coders' bands against ferx's on the intensity-coded photos (102 in round 1, 224 with round 2): agreement, per-AU band error, the span fit and its
identity-wise CV. `python docs/runs/au-intensity-codes-2026-12-07/analyse.py MEASURED.npz CODES_DIR`."""
import csv, sys
from pathlib import Path

import numpy as np

from ferx.aus.calibrated import to_intensity

BANDS = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
EDGES = np.array([1.0, 1.5, 2.5, 3.5, 4.5])
GRID = np.round(np.arange(0.25, 8.0001, 0.05), 2)
MIN_PHOTOS, MIN_GAIN, FOLDS = 10, 0.2, 5

m = np.load(sys.argv[1])
ids = list(m["ids"]); codes = list(m["codes"])
coded = {}  # (id, AU) -> list of band numbers (0 absent)
for f in sorted(Path(sys.argv[2]).glob("*.csv")):
    for row in csv.DictReader(open(f)):
        pid = row["id"].strip()
        if pid not in ids:
            continue
        for au in codes:
            if au not in row:
                continue
            v = (row[au] or "").strip().upper()
            if v == "?":
                continue
            coded.setdefault((pid, au), []).append(BANDS.get(v, 0))


def band_number(i):
    i = np.asarray(i, float)
    return np.where(i >= 1.0, (i[..., None] >= EDGES).sum(-1), 0)


def target(au):
    t = np.full(len(ids), np.nan); both = np.zeros(len(ids), bool); agree = np.full(len(ids), np.nan)
    for n, pid in enumerate(ids):
        v = coded.get((pid, au), [])
        if v:
            t[n] = np.mean(v)
        if len(v) == 2:
            both[n] = True
            agree[n] = abs(v[0] - v[1]) <= 1 if max(v) > 0 else np.nan
    return t, both, agree


def err(span, s, thr, t):
    i = to_intensity(s[:, None], np.array([thr]), np.array([thr + span]), resolve=False)[:, 0]
    return np.abs(band_number(i) - t)


def best_span(s, thr, t):
    e = [err(sp, s, thr, t).mean() for sp in GRID]
    return float(GRID[int(np.argmin(e))])


ident = m["identity"]; uid = np.unique(ident)
rng = np.random.default_rng(0); perm = rng.permutation(len(uid)); fold_of = {u: k % FOLDS for k, u in zip(range(len(uid)), uid[perm])}
folds = np.array([fold_of[u] for u in ident])
print(f"{'AU':5} {'n_t>=1':>6} {'read':>5} {'fit n':>5} {'agree±1':>7} {'span now':>8} {'span fit':>8} {'err now':>7} {'err cv':>7} {'now bias':>8} change")
for k, au in enumerate(codes):
    t, both, agree = target(au)
    s = m["scores"][:, k]; thr = float(m["threshold"][k]); span_now = float(m["mid"][k] - thr)
    inten = m["intensities"][:, k]
    has = ~np.isnan(t)
    if not has.any():
        continue
    use = has & (t >= 1) & (inten >= 1) & np.isfinite(s)
    ag = agree[~np.isnan(agree)]
    line = f"{au:5} {int((t[has] >= 1).sum()):6d} {int(use.sum()):5d}"
    if use.sum() < 3:
        print(line); continue
    e_now = err(span_now, s[use], thr, t[use])
    bias = (band_number(to_intensity(s[use, None], np.array([thr]), np.array([thr + span_now]), resolve=False)[:, 0]) - t[use]).mean()
    fit = best_span(s[use], thr, t[use])
    cv = np.zeros(use.sum()); idx = np.flatnonzero(use)
    for f in range(FOLDS):
        tr = use & (folds != f); te = folds[idx] == f
        if not te.any():
            continue
        sp = best_span(s[tr], thr, t[tr]) if tr.sum() >= 3 else span_now
        cv[te] = err(sp, s[idx[te]], thr, t[idx[te]])
    change = use.sum() >= MIN_PHOTOS and e_now.mean() - cv.mean() >= MIN_GAIN
    print(f"{line} {int(use.sum()):5d} {ag.mean() if len(ag) else float('nan'):7.2f} {span_now:8.2f} {fit:8.2f} {e_now.mean():7.2f} {cv.mean():7.2f} {bias:8.2f} {'YES' if change else ''}")
