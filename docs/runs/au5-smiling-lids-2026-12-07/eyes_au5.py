import sys, numpy as np
from pathlib import Path
import ferx.aus.calibrated as c
if len(sys.argv) > 1 and sys.argv[1] == "off": c.SMILING_LIDS["AU6_from"] = 99.0
from ferx.aus.calibrated import AUCalibration
from ferx.data.coded import read_photo_codes
from ferx.train.aus.calibration import candidate_measures, measure_images
from ferx.facs import AU_CODES
LFW = Path("/work/shared/data/lfw-expressions/images")
cal = AUCalibration.load("au-facs")
codes = read_photo_codes(Path("data/lfw-au-codes/codes-eyes.csv"), LFW)
faces = measure_images(list(codes.paths), candidate_measures(True), cal.heads, progress=False, cache=Path("/work/runs/issue23f/eyes-cache"))
ok = faces.found
I = cal.intensities(faces.rows(ok).columns(cal.measures))
j = list(codes.aus).index(5)
code5 = codes.levels[ok][:, j]
a5 = I[:, AU_CODES.index("AU5")]
print("AU5 codes: clear", int((code5==2).sum()), "doubtful", int((code5==1).sum()), "absent", int((code5==0).sum()))
print("read at A on absent: %d of %d" % (int(((a5>=1)&(code5==0)).sum()), int((code5==0).sum())))
print("clear read at A: %d of %d" % (int(((a5>=1)&(code5==2)).sum()), int((code5==2).sum())))
