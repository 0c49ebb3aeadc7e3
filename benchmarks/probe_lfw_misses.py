"""Why lfw-expressions photos get no face (issue 25's "≥ 99.5 % found" target): for every photo the
default analyzer finds no face in, the detector's boxes, the mesh's face-presence probability on the
most present one and the verifier's probability on that mesh, and the same for the photo read whole
(the tight-crop retry). Prints a summary and writes the rows as JSON.

    python benchmarks/probe_lfw_misses.py [--out misses.json]

Result (2026-12-07, docs/results.md issue 25): 96 of 2,372 photos, 86 of them from seven film-still
identities (median longer side 84 px: blur, profiles, faces cut by the frame).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw-expressions" / "images"


def why(stages: dict, image: np.ndarray) -> dict[str, float | int]:
    """Detector boxes, presence / score / verifier probability of the most present box, and the
    presence / verifier probability of the whole image read as one face."""
    from ferx import Faces
    from ferx.pipeline import whole_image_face

    out: dict[str, float | int] = {}
    det = stages["detect"].process(image, Faces.empty(), [])
    out["boxes"] = len(det)
    if len(det):
        mesh, presence = stages["landmarks"].mesh(image, det)
        verify = stages["verify"].face_probability(image, det.with_fields(landmarks=mesh))
        k = int(np.argmax(presence))
        out.update(presence=float(presence[k]), score=float(det.scores[k]), verify=float(verify[k]))
    whole = whole_image_face(image, score=0.0)
    mesh, presence = stages["landmarks"].mesh(image, whole)
    out["whole_presence"] = float(presence[0])
    out["whole_verify"] = float(stages["verify"].face_probability(image, whole.with_fields(landmarks=mesh))[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("lfw-misses.json"))
    args = ap.parse_args()
    import ferx
    from ferx.io import load_image

    paths = sorted(LFW.iterdir())
    with ferx.Analyzer(expression=None, explain=None) as analyzer:
        stages = dict(analyzer._stages)  # a probe of the stages' own outputs, not a public use
        missed = [p for p in paths if not len(analyzer.analyze(p).faces)]
        rows = []
        for p in missed:
            image = load_image(p)
            rows.append({"name": p.name, "shape": list(image.shape[:2]), **why(stages, image)})
    args.out.write_text(json.dumps(rows, indent=1))
    boxed = [r for r in rows if r["boxes"]]
    print(f"{len(paths)} photos, {len(rows)} without a face; median longer side {np.median([max(r['shape']) for r in rows]):.0f} px")
    print(f"no detection: {len(rows) - len(boxed)}; a detection the mesh confirms (presence ≥ 0.9) but the verifier "
          f"rejects: {sum(r['presence'] >= 0.9 for r in boxed)}; the mesh does not confirm: {sum(r['presence'] < 0.9 for r in boxed)} "
          f"(verifier ≥ 0.95 on {sum(r['presence'] < 0.9 and r['verify'] >= 0.95 for r in boxed)})")


if __name__ == "__main__":
    main()
