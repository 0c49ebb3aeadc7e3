"""Diagnosis of the run part-way (2026-12-06 21:45 UTC, not a result): do the epoch-3 and epoch-4 models miss the
validation photo faces, or score them below val_photos' 0.4? Run: cd PROJECT && OMP_NUM_THREADS=1 python docs/runs/onepass-real-csp-e10/probe_photos.py"""
import os

import torch
import yaml

from ferx.train.onepass.model import OnePassDetector
from ferx.train.onepass.photos import photo_set, predict_photos_torch, photo_figures
from ferx.train.onepass.data.mosaics import MosaicConfig

torch.set_num_threads(1)
run = "/work/runs/issue26/real-csp-e10"
cfg = yaml.safe_load(open(f"{run}/config.yaml"))["data"]
os.chdir("/work/runs/issue26")
data = MosaicConfig(**cfg)
photos = photo_set(data, "val")
for name, key in (("best.pt (epoch 3)", "model"), ("last.pt EMA (epoch 4)", "ema")):
    ck = torch.load(f"{run}/{name.split()[0]}", map_location="cpu", weights_only=False)
    mc = ck.get("model_config") or torch.load(f"{run}/best.pt", map_location="cpu", weights_only=False)["model_config"]
    m = OnePassDetector(**mc)
    m.load_state_dict(ck[key])
    preds = predict_photos_torch(m, photos, 0.01, 0.3, torch.device("cpu"))
    for c in (0.05, 0.1, 0.2, 0.3, 0.4):
        f = photo_figures(preds, photos, c)
        lab = f["labels"]
        per = ", ".join("%s %.2f (%d)" % (k, v["recall"], v["faces"]) for k, v in lab.get("per_label", {}).items() if v["faces"])
        print(name, "conf %.2f: found %.3f false/photo %.3f label acc %.3f macro-recall %.3f | %s" % (
            c, f["found"], f["false_per_photo"], lab.get("accuracy", float("nan")), lab.get("macro_recall", float("nan")), per),
            flush=True)
