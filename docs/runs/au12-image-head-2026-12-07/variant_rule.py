import sys
from ferx.aus import calibrated
orig = calibrated.AUCalibration.intensities
def intensities(self, values, resolve=True):
    out = orig(self, values, resolve)
    if resolve and "bs:mouthSmile" not in self.readings[calibrated.AU_CODES.index("AU12")].measures:
        out = calibrated.open_mouth_smiles(out)
    return out
calibrated.AUCalibration.intensities = intensities
sys.argv = sys.argv[:1] + sys.argv[1:]
exec(open(__file__.replace("variant_rule.py", "variant.py")).read())
