"""Final AU readings (default analyzer, first face) of every coded face: CK+ peaks, lfw presence-coded photos,
lfw intensity-coded photos. Saves readings.npz: per set, names, aus (N,K), codes dict."""
import csv, sys
from pathlib import Path
import numpy as np
from ferx import Analyzer, AU_CODES, FrameResult
from ferx.data.coded import read_coded_faces, read_intensity_codes, read_photo_codes
ROOT = Path("/work/main"); SH = Path("/work/shared/data")
an = Analyzer()
def read(paths):
    out = np.full((len(paths), len(AU_CODES)), np.nan, np.float32)
    for i, r in enumerate(an.analyze_many(list(paths))):
        if isinstance(r, FrameResult) and len(r.faces):
            out[i] = r.faces.aus[0]
    return out
ck = read_coded_faces(SH / "ckplus-facs")
print([a for a in dir(ck) if not a.startswith('_')])
peak = ck.peaks
ckf = [f for f, p in zip(ck.faces, peak) if p]
save = {}
save["ck_aus"] = read([f.path for f in ckf]); save["ck_codes"] = ck.codes[peak]; save["ck_coded"] = np.array(ck.aus)
pc = read_photo_codes(ROOT / "data/lfw-au-codes/codes.csv", SH / "lfw-expressions/images")
save["pc_aus"] = read(pc.paths); save["pc_codes"] = pc.levels; save["pc_coded"] = np.array(pc.aus)
save["pc_names"] = np.array([p.name for p in pc.paths])
from ferx.data.coded import IntensityCodes
ic = IntensityCodes.concat([read_intensity_codes(ROOT / "data/lfw-au-intensity" / t, SH / "lfw-expressions/images")
                            for t in ("codes.csv", "codes-round3.csv", "codes-round4.csv")])
save["ic_aus"] = read(ic.paths); save["ic_bands"] = ic.bands; save["ic_seen"] = ic.seen; save["ic_coders"] = ic.coders
save["ic_coded"] = np.array(ic.aus); save["ic_names"] = np.array([p.name for p in ic.paths]); save["ic_rounds"] = ic.rounds
np.savez("/work/runs/s12/probe/readings.npz", **save)
print({k: v.shape for k, v in save.items()})
