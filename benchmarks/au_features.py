"""Mesh landmarks, blendshapes and classifier probabilities per dataset face, cached once.

The AU benchmarks (`calibrate_aus.py`, `bench_au_validity.py`) read the measurements from here so
that a change to the AU table is re-scored in seconds without re-running the face models.

- lfw-expressions: the full analyzer (detector → mesh → classifier) on every photo; the largest face
  is the photo's subject. `half` splits the identities in two (md5 bucket < 5 → "A", else "B"):
  A is used for every choice (calibration, thresholds, grades), B only for reporting.
- FER+ (majority protocol) train / val / test: the crops are faces already, so the mesh runs on the
  whole crop as training does (`ferx.data.landmark_cache`, ROI 1.2×), and the blendshape model on
  its landmarks; the classifier is not run (FER+ test figures for it are in docs/results.md).

    python benchmarks/au_features.py [--cache /work/runs/ferx-aus]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ferx.data.readers import identity_half  # 'A' (choices) or 'B' (reporting)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_CACHE = ROOT.parent / "runs" / "ferx-aus"




def through_stages(stages: list, paths: list[Path], landmarks: np.ndarray, blendshapes: np.ndarray):
    """Each cached face (one per image, with its cached mesh) through further analyzer stages (e.g.
    an AU estimator, the classifier) on its image again; yields the one-face `Faces` after them."""
    from ferx import Faces, load_image

    for path, lm, bs in zip(paths, landmarks, blendshapes):
        image = load_image(path, min_side=8)  # FER+ images are 48 px
        faces = Faces(np.array([[0, 0, 10, 10]]), np.ones(1), np.zeros((1, 5, 2)), landmarks=lm[None], blendshapes=bs[None])
        for stage in stages:
            faces = stage.process(image, faces)
        yield faces


def lfw_features(cache: Path) -> dict[str, np.ndarray]:
    path = cache / "lfw.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from ferx import Analyzer
    from ferx.data.readers import open_dataset

    ds = open_dataset(f"lfw-expressions:{SHARED / 'lfw-expressions'}")
    rows: dict[str, list] = {k: [] for k in ("image", "label", "identity", "half", "landmarks", "blendshapes", "probs")}
    t0 = time.time()
    with Analyzer(aus=None, explain=None) as analyzer:
        for i, s in enumerate(ds.samples):
            faces = analyzer.analyze(s.path).faces
            if i % 300 == 0:
                print(f"lfw {i}/{len(ds)} {time.time() - t0:.0f} s", file=sys.stderr)
            if not len(faces):
                continue
            k = int(faces.largest_rows(1)[0])
            rows["image"].append(s.path.name)
            rows["label"].append(s.label)
            rows["identity"].append(s.identity)
            rows["half"].append(identity_half(s.identity))
            rows["landmarks"].append(faces.landmarks[k])
            rows["blendshapes"].append(faces.blendshapes[k])
            rows["probs"].append(faces.expression[k])
    out = {k: np.array(v) for k, v in rows.items()}
    out["n_images"] = np.array(len(ds))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return out


def ferplus_features(cache: Path, split: str) -> dict[str, np.ndarray]:
    path = cache / f"ferplus-{split}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from ferx.data.landmark_cache import LandmarkCache
    from ferx.data.readers import open_dataset
    from ferx.pipeline import Analyzer  # registers the backends
    from ferx.stages import LANDMARKERS

    del Analyzer
    ds = open_dataset(f"ferplus:{SHARED / 'ferplus'}", split)
    paths = [s.path for s in ds.samples]
    lms, found = LandmarkCache(cache / "landmarks").get(paths)
    landmarker = LANDMARKERS.create("mediapipe", threads=1)
    try:
        blend = np.full((len(paths), 52), np.nan, np.float32)
        blend[found] = landmarker.blendshapes(lms[found])
    finally:
        landmarker.close()
    out = {
        "image": np.array([f"{p.parent.name}/{p.name}" for p in paths]),
        "label": np.array([s.label for s in ds.samples]),
        "soft": np.stack([s.soft for s in ds.samples]).astype(np.float32),
        "landmarks": lms[found].astype(np.float32),
        "blendshapes": blend[found],
        "found": found,
    }
    for k in ("image", "label", "soft"):
        out[k] = out[k][found]
    out["n_images"] = np.array(len(paths))
    np.savez_compressed(path, **out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--only", choices=["lfw", "ferplus"], help="extract one dataset only")
    args = ap.parse_args()
    if args.only in (None, "lfw"):
        d = lfw_features(args.cache)
        print(f"lfw: {len(d['label'])} faces of {int(d['n_images'])} photos")
    if args.only in (None, "ferplus"):
        for split in ("val", "test", "train"):
            d = ferplus_features(args.cache, split)
            print(f"ferplus {split}: {len(d['label'])} faces of {int(d['n_images'])} crops")


if __name__ == "__main__":
    main()
