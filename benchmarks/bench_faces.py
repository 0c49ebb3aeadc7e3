"""Faces only where there are faces: precision and recall of the default pipeline on photos with known
faces and on face-free photos at 640×480 to 12 Mpx, and on every lfw-expressions photo — for this
checkout and, with --base, an earlier commit, each in its own process on the same images.

    python benchmarks/bench_faces.py --base ff184f6 [--without-verifier] [--scenes 8] [--free 8] [--native 3]
    python benchmarks/bench_faces.py --split val --variant 'yunet={"detector": {"name": "yunet"}}'

Images (`ferx.train.verify.scenes`): per split, lfw faces of that split's identities on that split's
face-free scikit-image photos (val: rocket, motorcycle — where the verifier's threshold was chosen;
test: the cat and the coffee cup of the issue's false faces, seen by no training or choice), composed at
640×480 and enlarged to 1280×960, 2016×1512, 4032×3024, or composed at 12 Mpx; face-free views of the
same photos at those sizes; the bundled astronaut photo (one face) at 512 px enlarged to 12 Mpx (test).
A reported face matches a true one at IoU >= 0.4 (one-to-one); any other is a false face.
lfw-expressions (all 2,372 photos): photos with a face, and photos where a reported face lies inside
another (> 60 % of its box: a nested duplicate such as an eye). `--split val` keeps the val cases and the
photos of val identities only (for choices); `--variant LABEL=JSON` (repeatable) also measures this
checkout with those Analyzer overrides.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codes import add_variant_option, code_sources, machine_load, run_child, variants  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "lfw-expressions"

CHILD = r"""
import json, sys, time
import numpy as np
import ferx
from ferx import Analyzer, load_image
manifest, overrides = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
out = {"module": ferx.__file__, "cases": {}, "lfw": {}}
with Analyzer(**overrides) as a:
    for name, path in manifest["cases"].items():
        t = time.perf_counter()
        f = a.analyze(np.load(path)).faces
        out["cases"][name] = {"boxes": f.boxes.round(1).tolist(), "ms": (time.perf_counter() - t) * 1e3}
    for path in manifest["lfw"]:
        out["lfw"][path] = a.analyze(load_image(path)).faces.boxes.round(1).tolist()
print(json.dumps(out))
"""


def build(scenes: int, free: int, native: int, splits: tuple[str, ...] = ("val", "test")) -> dict[str, object]:
    """The cases of both splits: {name: Case}."""
    from ferx import Analyzer, load_image
    from ferx.data.mosaic import single_faces
    from ferx.data.readers import identity_split
    from ferx.train.verify.scenes import Case, cases, enlarge

    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    out: dict[str, object] = {}
    with Analyzer(aus=None, expression=None, explain=None) as a:
        for split in splits:
            paths = [LFW / "images" / r["image"] for r in rows if identity_split(r["identity"]) == split]
            refs = single_faces(a, paths, 60)
            out.update({f"{split}/{c.name}": c for c in cases(refs, split, scenes, free, native)})
        astronaut = load_image(ROOT / "src" / "ferx" / "assets" / "astronaut.jpg")
        face = a.analyze(astronaut).faces.boxes[:1]
    for side in (512, 1024, 2048, 3464) if "test" in splits else ():
        k = side / astronaut.shape[1]
        out[f"test/astronaut@{side}"] = Case(f"astronaut@{side}", enlarge(astronaut, (side, side)) if k != 1 else astronaut,
                                             face * k, "astronaut")
    return out


def score(all_cases: dict[str, object], got: dict[str, dict]) -> dict[tuple[str, str], list[float]]:
    """(split, kind) → [true faces, found, predictions, false faces, images, median ms]."""
    from ferx.data.mosaic import match

    table: dict[tuple[str, str], list] = {}
    for name, case in all_cases.items():
        pred = np.array(got[name]["boxes"], np.float32).reshape(-1, 4)
        assigned, _ = match(case.boxes, pred) if len(case.boxes) else (np.zeros(0, int), None)  # type: ignore[attr-defined]
        hit = int((assigned >= 0).sum())
        row = table.setdefault((name.split("/")[0], case.kind), [0, 0, 0, 0, 0, []])  # type: ignore[attr-defined]
        row[0] += len(case.boxes)  # type: ignore[attr-defined]
        row[1] += hit
        row[2] += len(pred)
        row[3] += len(pred) - hit
        row[4] += 1
        row[5].append(got[name]["ms"])
    return {k: v[:5] + [float(np.median(v[5]))] for k, v in table.items()}


def lfw_measures(boxes: dict[str, list]) -> tuple[int, int, int]:
    """(photos, photos with a face, photos with a nested duplicate)."""
    from ferx.boxes import inside_larger

    found, nested = 0, []
    for path, b in boxes.items():
        b = np.array(b, np.float32).reshape(-1, 4)
        found += len(b) > 0
        if len(b) > 1 and inside_larger(b, np.ones(len(b), bool), 0.6).any():
            nested.append(Path(path).name)
    return len(boxes), found, nested


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", help="an earlier commit to measure on the same images")
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--free", type=int, default=8)
    ap.add_argument("--native", type=int, default=3)
    ap.add_argument("--lfw", type=int, default=0, help="first N lfw photos only (0: all)")
    ap.add_argument("--without-verifier", action="store_true", help="also measure this checkout with verifier: null")
    ap.add_argument("--split", choices=("val", "test"), help="one split's cases and lfw identities only")
    add_variant_option(ap)
    args = ap.parse_args()
    from ferx.data.readers import identity_split

    all_cases = build(args.scenes, args.free, args.native, (args.split,) if args.split else ("val", "test"))
    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    rows = [r for r in rows if args.split is None or identity_split(r["identity"]) == args.split]
    lfw = [str(LFW / "images" / r["image"]) for r in rows[: args.lfw or None]]
    print(f"{len(all_cases)} images; {len(lfw)} lfw photos; {machine_load()} at the start", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ferx-faces-") as tmp, code_sources(args.base) as sources:
        manifest = {"cases": {}, "lfw": lfw}
        for i, (name, case) in enumerate(all_cases.items()):
            path = Path(tmp) / f"{i}.npy"
            np.save(path, case.image)  # type: ignore[attr-defined]
            manifest["cases"][name] = str(path)
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        runs = [(code, src, {}) for code, src in sources.items()]
        if args.without_verifier:  # the same checkout with the verifier off: what the verifier itself does
            runs.append(("this checkout, verifier off", sources["this checkout"], {"verifier": None}))
        runs += [(label, sources["this checkout"], overrides) for label, overrides in variants(args.variant)]
        results = {code: run_child(src, CHILD, str(Path(tmp) / "manifest.json"), json.dumps(overrides))
                   for code, src, overrides in runs}
    print(f"{machine_load()} at the end", file=sys.stderr)
    print("| code | split | images | kind | true faces | found (recall) | reported | false faces | precision | false per image | median ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for code, res in results.items():
        for (split, kind), (n_true, hit, n_pred, false, n_img, ms) in sorted(score(all_cases, res["cases"]).items()):
            recall = f"{hit} ({hit / n_true:.3f})" if n_true else "–"
            precision = f"{(n_pred - false) / n_pred:.3f}" if n_pred else "–"
            print(f"| {code} | {split} | {n_img} | {kind} | {n_true} | {recall} | {n_pred} | {false} | {precision} | "
                  f"{false / n_img:.2f} | {ms:.0f} |")
    print("\n| code | lfw-expressions photos | with a face | nested duplicates |")
    print("|---|---|---|---|")
    for code, res in results.items():
        n, found, nested = lfw_measures(res["lfw"])
        print(f"| {code} | {n} | {found} ({found / n:.2%}) | {len(nested)} |")
        print(f"{code}: nested duplicates in {', '.join(nested) or 'none'}", file=sys.stderr)


if __name__ == "__main__":
    main()
