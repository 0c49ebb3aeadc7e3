"""AU evidence alone per set with the shipped prototypes and with happiness opposed by AU4 (criterion.md)."""
import sys
from dataclasses import replace
from pathlib import Path
import numpy as np
from ferx import facs, Analyzer

cache = Path(sys.argv[1])
with Analyzer(explain=None) as a:
    profile = a.describe().au_profile


def score(proto_patch):
    saved = dict(facs.EMOTION_PROTOTYPES)
    try:
        facs.EMOTION_PROTOTYPES.update(proto_patch)
        support, oppose, unilateral = facs.evidence_matrices(profile.measured)
    finally:
        facs.EMOTION_PROTOTYPES.clear(); facs.EMOTION_PROTOTYPES.update(saved)
    out = {}
    for f in sorted(cache.glob("*.npz")):
        z = np.load(f)
        aus = z["aus"]
        asym = facs.one_sidedness(aus, z["bs"])
        x = np.clip(aus / 5.0, 0, 1)
        ev = x @ support - 0.5 * (x[:, :, None] * oppose[None]).max(axis=1) + (asym / 5.0) @ unilateral
        p = facs.evidence_probabilities(ev.astype(np.float32), profile.neutral_evidence, profile.temperature)
        pred = np.array(facs.EXPRESSIONS)[p.argmax(1)]
        lab = z["label"]
        counted = [e for e in facs.EXPRESSIONS if (lab == e).sum() >= 10]
        out[f.stem] = ((pred == lab).mean(), np.mean([(pred[lab == e] == e).mean() for e in counted]), len(lab))
    return out


base = score({})
happy = facs.EMOTION_PROTOTYPES["happiness"]
var = score({"happiness": replace(happy, opposes=(15, 4))})
for k in base:
    print(f"{k:12s} shipped acc {base[k][0]:.4f} macro {base[k][1]:.4f} | AU4 opposes happiness acc {var[k][0]:.4f} macro {var[k][1]:.4f} ({base[k][2]} faces)")
