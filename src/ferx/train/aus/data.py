"""The AU heads' training data: FER+ faces as the analyzer reads them, with per-AU targets (no torch).

Every FER+ crop goes through the analyzer as a user's would (the whole-image rule for face crops,
`ferx.pipeline`), so the heads train on the landmarks, aligned crops and region masks they will see.
Per head AU the target is one of:

- **a movement**, where the mesh reads the AU well against FACS codes (the `teacher` calibration's
  cross-validated AUC ≥ `teacher_min_auc`): q = σ((score − TEACHER_CENTRE) / TEACHER_WIDTH), the
  reading's standardised score (its measures, centred on neutral faces; no threshold fitted on coded
  faces enters the weights). The head then learns the movement from the pixels of its region, and
  can beat its teacher on faces whose mesh is off.
- **the expression prior** elsewhere: q = Σₑ P(e | votes) P(AU | e) (Zhang, Dong, Hu & Ji, CVPR 2018;
  `ferx.aus.heads.au_targets`), which reads what the votes say about the expression.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ferx.aus.calibrated import AUCalibration, AUReading
from ferx.aus.heads import GRID, HEAD_CODES, au_targets, crop_points, region_masks
from ferx.aus.measures import parse
from ferx.facecrop import SIZE, aligned_crop
from ferx.numeric import sigmoid
from ferx.train.aus.config import AUTrainConfig

K = len(HEAD_CODES)
#: A standardised score this far above the neutral median is a movement at even odds (the 95th
#: percentile of a normal distribution), and TEACHER_WIDTH makes the target go from 0.12 to 0.88
#: over one standard deviation around it.
TEACHER_CENTRE, TEACHER_WIDTH = 1.645, 0.5


def prepare(image_paths: list[Path], landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 48, 48) uint8 aligned crops and (N, K, 12, 12) float16 region masks, as inference
    computes them (`ferx.aus.image_heads`)."""
    from PIL import Image

    crops = np.zeros((len(image_paths), 1, SIZE, SIZE), np.uint8)
    pts = np.zeros((len(image_paths), landmarks.shape[1], 2), np.float32)
    for i, (p, lm) in enumerate(zip(image_paths, landmarks)):
        lm = np.asarray(lm, np.float32)
        with Image.open(p) as im:
            crops[i, 0] = aligned_crop(im.convert("L"), lm, SIZE)
        pts[i] = crop_points(lm)
    masks = np.concatenate([region_masks(pts[s : s + 1024]) for s in range(0, len(pts), 1024)] or
                           [np.zeros((0, K, GRID, GRID), np.float32)])
    return crops, masks.astype(np.float16)


def teacher_readings(cfg: AUTrainConfig) -> dict[str, AUReading]:
    """Head AU code → the mesh reading that teaches it (empty without a teacher)."""
    if not cfg.teacher:
        return {}
    calibration = AUCalibration.load(cfg.teacher)
    if any(parse(m)[1] == "h" for m in calibration.measures):
        raise ValueError(f"teacher {cfg.teacher!r} reads image heads; a teacher must be read from the mesh alone")
    return {r.code: r for r in calibration.readings
            if r.code in HEAD_CODES and r.auc is not None and r.auc >= cfg.teacher_min_auc}


def teacher_targets(readings: dict[str, AUReading], names: tuple[str, ...], values: np.ndarray) -> dict[str, np.ndarray]:
    """AU code → (N,) movement targets from measured values (columns `names`)."""
    col = {n: j for j, n in enumerate(names)}
    out = {}
    for code, r in readings.items():
        z = [(values[:, col[m]].astype(np.float64) - c) / s for m, c, s in zip(r.measures, r.centre, r.scale)]
        out[code] = sigmoid((np.mean(z, axis=0) - TEACHER_CENTRE) / TEACHER_WIDTH).astype(np.float32)
    return out


def split_tensors(cfg: AUTrainConfig, split: str, limit: int = 0, progress: bool = True) -> dict[str, np.ndarray]:
    """FER+ SPLIT (probability protocol; the faces the analyzer found) as crops, masks, targets,
    majority labels ("" where the votes have no majority), which AUs a teacher taught, and each face's
    sample index in the split; cached in `cfg.cache_dir`."""
    from ferx.data.readers import open_dataset
    from ferx.train.aus.calibration import candidate_measures, measure_images

    samples = open_dataset(f"ferplus:{cfg.ferplus}", split, protocol="probability").samples
    if limit:
        samples = samples[:limit]
    teachers = teacher_readings(cfg)
    key = hashlib.sha1(f"{cfg.ferplus}|{split}|{len(samples)}|{GRID}|{HEAD_CODES}|{sorted((c, r.measures, r.centre, r.scale) for c, r in teachers.items())}|v3"
                       .encode()).hexdigest()[:12]
    path = Path(cfg.cache_dir) / f"ferplus-{split}-{len(samples)}-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    names = candidate_measures(heads=False)
    faces = measure_images([s.path for s in samples], names, None, progress, cache=Path(cfg.cache_dir))
    ok = faces.found
    kept = [s for s, f in zip(samples, ok) if f]
    soft = np.stack([s.soft for s in kept]).astype(np.float32)
    crops, masks = prepare([s.path for s in kept], faces.landmarks[ok])
    targets = au_targets(soft)
    taught = np.zeros(K, bool)
    for code, q in teacher_targets(teachers, faces.names, faces.values[ok]).items():
        targets[:, HEAD_CODES.index(code)] = q
        taught[HEAD_CODES.index(code)] = True
    majority = {s.path: s.label for s in open_dataset(f"ferplus:{cfg.ferplus}", split, protocol="majority").samples}
    labels = [majority.get(s.path, "") for s in kept]
    out = {"crops": crops, "masks": masks, "targets": targets.astype(np.float32), "label": np.array(labels),
           "taught": taught, "index": np.flatnonzero(ok)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out
