"""Measures of the 102 intensity-coded photos under a calibration: per AU score, shipped threshold/mid and
final intensity. `python docs/runs/au-intensity-codes-2026-12-07/measure.py KEY.json OUT.npz [--calibration au-facs]
[--cache DIR]`."""
import argparse, json
from pathlib import Path

import numpy as np

from ferx.aus.calibrated import AUCalibration
from ferx.facs import AU_CODES
from ferx.train.aus.calibration import measure_images

p = argparse.ArgumentParser()
p.add_argument("key"); p.add_argument("out")
p.add_argument("--calibration", default="au-facs"); p.add_argument("--cache")
p.add_argument("--root", default="../shared/data/lfw-expressions/images")
a = p.parse_args()
key = json.loads(Path(a.key).read_text())
cal = AUCalibration.load(a.calibration)
paths = [Path(a.root) / k["image"] for k in key]
faces = measure_images(paths, cal.measures, cal.heads, progress=False, cache=Path(a.cache) if a.cache else None)
vals = faces.values
scores = np.full((len(paths), len(AU_CODES)), np.nan)
inten = np.full((len(paths), len(AU_CODES)), np.nan)
ok = faces.found
scores[ok] = cal.scores(vals[ok]); inten[ok] = cal.intensities(vals[ok])
np.savez(a.out, ids=np.array([k["id"] for k in key]), identity=np.array([k["identity"] for k in key]),
         codes=np.array(AU_CODES), scores=scores, intensities=inten, found=ok,
         threshold=np.array([r.threshold for r in cal.readings]), mid=np.array([r.mid for r in cal.readings]))
print(f"{ok.sum()} of {len(paths)} photos with a face")
