"""The face verifier's trade-off on the mined validation crops: per threshold, the share of faces kept
and of non-faces rejected, among the crops the mesh lets through (presence >= 0.5), by source.

    python benchmarks/bench_verifier.py --examples ../runs/verifier/cache/val.npz [--model face-verifier] [--lfw val]

The crops come from `python -m ferx.train.verify mine --split val` (lfw val identities, the val
face-free photos, FER+ Valid). With --lfw SPLIT, also the faces kept per threshold among every
lfw-expressions photo of that split's identities whose face the mesh confirms (the whole pipeline up
to the mesh, as a user runs it): the mined crops hold one face per photo of a few hundred photos, too
few to show the tail of faces the verifier doubts. The shipped threshold is the highest one keeping
every mined validation face and >= 99.8 % of the val identities' lfw photos (docs/runs/verifier-v1-e12.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ferx.assets import packaged_model
from ferx.train.verify.data import KINDS, Examples


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=Path, required=True)
    ap.add_argument("--model", default="face-verifier")
    ap.add_argument("--lfw", choices=("val", "test"), help="also measure on this split's lfw-expressions photos")
    args = ap.parse_args()
    ex = Examples.load(args.examples)
    path, meta = packaged_model(args.model, "face verifier")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    p = np.concatenate([session.run(["face"], {"image": ex.crops[s : s + 512, None].astype(np.float32) / 127.5 - 1})[0]
                        for s in range(0, len(ex), 512)])
    seen = ex.presence >= 0.5
    faces, others = seen & (ex.label == 1), seen & (ex.label == 0)
    print(f"{args.examples}: {int(faces.sum())} faces and {int(others.sum())} non-faces the mesh lets through "
          f"(of {len(ex)} crops); model {path.name}, shipped threshold {meta['threshold']}")
    groups = [(name, seen & (ex.group == g) & (ex.label == 1)) for g, name in enumerate(ex.groups)]
    groups = [(n, m) for n, m in groups if m.any()]
    kinds = [(k, others & (ex.kind == i)) for i, k in enumerate(KINDS) if i]
    print("| threshold | faces kept | " + " | ".join(f"{n} faces kept" for n, _ in groups) + " | non-faces rejected | "
          + " | ".join(f"{k} rejected" for k, _ in kinds) + " |")
    print("|---|---|" + "---|" * len(groups) + "---|" + "---|" * len(kinds))
    lfw = lfw_probabilities(args.model, args.lfw) if args.lfw else None
    if lfw is not None:
        print(f"lfw-expressions {args.lfw} identities: {len(lfw)} photos with a mesh-confirmed face (the surest one's probability)")
    for t in sorted({0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, float(meta["threshold"])}):
        keep = p >= t
        if lfw is not None:
            print(f"  lfw {args.lfw} photos kept at {t:.3f}: {(lfw >= t).mean():.4f} ({int((lfw < t).sum())} lost)")
        cells = [f"{keep[faces].mean():.4f}"] + [f"{keep[m].mean():.3f}" for _, m in groups]
        cells += [f"{(~keep[others]).mean():.3f}"] + [f"{(~keep[m]).mean():.3f} ({int(m.sum())})" for _, m in kinds]
        mark = " (shipped)" if t == float(meta["threshold"]) else ""
        print(f"| {t:.3f}{mark} | " + " | ".join(cells) + " |")


def lfw_probabilities(model: str, split: str) -> np.ndarray:
    """(N,) per lfw-expressions photo of `split`'s identities with a mesh-confirmed face: the highest
    face probability the verifier gives its faces."""
    import csv
    import os

    from ferx import Analyzer, load_image
    from ferx.data.readers import identity_split
    from ferx.stages import VERIFIERS

    root = Path(os.environ.get("FERX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "lfw-expressions"
    with open(root / "labels.csv") as f:
        paths = [root / "images" / r["image"] for r in csv.DictReader(f) if identity_split(r["identity"]) == split]
    out = []
    with Analyzer(verifier=None, aus=None, expression=None, explain=None) as mesh, VERIFIERS.create("face-verifier", model=model) as v:
        for path in paths:
            image = load_image(path)
            faces = mesh.analyze(image).faces
            if len(faces):
                out.append(float(np.nanmax(v.face_probability(image, faces))))
    return np.array(out)


if __name__ == "__main__":
    main()
