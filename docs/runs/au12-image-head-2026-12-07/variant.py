"""Calibration with AU12's measures fixed (exploration): python variant.py 'h:AU12' OUT.json REC.json"""
import sys
from ferx.aus import measures
from ferx.train.aus import calibration as cal
from ferx.train.aus.__main__ import main
names = cal.candidate_measures(True)
fixed = tuple(sys.argv[1].split("+"))
measures.CANDIDATES[12] = fixed
cal.CANDIDATES[12] = fixed
cal.candidate_measures = lambda heads: names if heads else names
sys.exit(main(["calibrate", "--coded", "../shared/data/ckplus-facs", "--reference", "../shared/data/lfw-expressions",
  "--heads", "au-heads", "--photo-codes", "data/lfw-au-codes/codes.csv",
  "--photo-codes", "data/ferplus-au-codes/codes.csv=../shared/data/ferplus", "--name", "au-facs",
  "--out", sys.argv[2], "--record", sys.argv[3], "--quiet", "--cache", "/work/runs/issue23/cache"]))
