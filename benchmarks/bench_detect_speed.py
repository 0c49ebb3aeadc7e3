"""Speed and memory of the default pipeline at photo sizes from 640×480 to 12 Mpx, for this checkout
and, with --base, an earlier commit: each code in its own process, alternating over --rounds, on the
same images (arrays in memory: no decoding), so both see the same machine load.

    python benchmarks/bench_detect_speed.py --base ff184f6 [--rounds 3] [--repeats 20] [--memory 500]
    python benchmarks/bench_detect_speed.py --variant 'yunet={"detector": "yunet"}'   # this checkout, other settings

Cases:
  single 640x480    one face (~220 px) in a 640×480 frame (bench_speed.py's): images/s end to end;
  six people WxH    six lfw faces of 40–90 px on a face-free photo at 640×480, enlarged to 1280×960,
                    2016×1512 and 4032×3024 (12 Mpx): ms and faces found at each size;
  equal / mixed     30 scenes of one face each, all 1248×880 ("equal"), or each of its own size
                    around 1250×875 (±12 %, "mixed"), a fresh analyzer per batch: ms per image;
  memory            (--memory N) a fresh process analyses N lfw photos each resized to a random size of
                    300–4000 px (aspect 0.6–1.6), as bench_threads.py does: peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_threads import MEMORY_SCRIPT  # noqa: E402
from codes import add_variant_option, code_sources, machine_load, run_child, variants  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "lfw-expressions"

CHILD = r"""
import json, resource, sys, time
import numpy as np
import ferx
from ferx import Analyzer
manifest, repeats, overrides = json.load(open(sys.argv[1])), int(sys.argv[2]), json.loads(sys.argv[3])
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
out = {"module": ferx.__file__}
with Analyzer(**overrides) as a:
    for name, path in manifest["repeat"].items():
        image = np.load(path)
        for _ in range(2):
            r = a.analyze(image)
        times, c0 = [], cpu()
        for _ in range(repeats if image.size < 4e6 else max(3, repeats // 4)):
            t = time.perf_counter()
            r = a.analyze(image)
            times.append((time.perf_counter() - t) * 1e3)
        out[name] = {"ms": float(np.median(times)), "cpu_ms": (cpu() - c0) / len(times) * 1e3, "faces": len(r.faces),
                     "detect_ms": r.timings_ms.get("detect")}
for name, paths in manifest["batch"].items():
    with Analyzer(**overrides) as a:
        a.analyze(np.load(paths[0]))
        images = [np.load(p) for p in paths[1:]]
        t, c0 = time.perf_counter(), cpu()
        for image in images:
            a.analyze(image)
        out[name] = {"ms": (time.perf_counter() - t) / len(images) * 1e3, "cpu_ms": (cpu() - c0) / len(images) * 1e3}
print(json.dumps(out))
"""

#: bench_threads.py's memory run (the same photos and sizes), then which ferx ran, as JSON
MEMORY = MEMORY_SCRIPT + """
import json, ferx
print(json.dumps({"module": ferx.__file__}))
"""


def memory_run(src: Path, photos: int) -> dict:
    """Peak RSS of a fresh process analysing `photos` lfw photos at random sizes (bench_threads.py)."""
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", MEMORY, str(LFW), str(photos)], env=env, capture_output=True,
                          text=True, check=True, cwd=tempfile.gettempdir())
    *_, numbers, module = done.stdout.strip().splitlines()
    if not json.loads(module)["module"].startswith(str(src)):
        raise RuntimeError(f"the memory run did not use the code under {src}")
    n, faces, start, peak, seconds = numbers.split()
    return {"photos": n, "faces": faces, "start_mb": start, "peak_mb": peak, "seconds": seconds}


def images(tmp: Path) -> dict[str, object]:
    """The manifest: single and six-people images (repeated), equal and mixed batches; saved as .npy."""
    from PIL import Image

    from ferx import Analyzer
    from ferx.data.mosaic import compose, single_faces
    from ferx.data.readers import identity_split
    from ferx.train.verify.scenes import SIZES, enlarge, scene, split_photos

    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    with Analyzer(aus=None, expression=None, explain=None) as a:
        refs = single_faces(a, [LFW / "images" / r["image"] for r in rows if identity_split(r["identity"]) == "val"], 40)
    rng = np.random.default_rng(7)

    def save(name: str, image: np.ndarray) -> str:
        path = tmp / f"{name.replace(' ', '_')}.npy"
        np.save(path, image)
        return str(path)

    single = compose([refs[0][0]], [refs[0][1]], [220], (640, 480), rng).image
    repeat = {"single 640x480": save("single", single)}
    six, _ = scene(refs, split_photos("val"), SIZES[0], 6, (40, 90), rng)
    for w, h in SIZES:
        repeat[f"six people {w}x{h}"] = save(f"six{w}", enlarge(six, (w, h)) if w != SIZES[0][0] else six)
    batch: dict[str, list[str]] = {"equal 1248x880": [], "mixed ~1250x875": []}
    for i in range(31):
        base = np.asarray(Image.fromarray(split_photos("val")[i % 2]).resize((1248, 880)))
        m = compose([refs[i % 40][0]], [refs[i % 40][1]], [int(rng.integers(80, 200))], (1248, 880), rng,
                    base=Image.fromarray(base))
        batch["equal 1248x880"].append(save(f"eq{i}", m.image))
        w, h = int(1250 * rng.uniform(0.88, 1.12)), int(875 * rng.uniform(0.88, 1.12))
        batch["mixed ~1250x875"].append(save(f"mx{i}", enlarge(m.image, (w, h))))
    return {"repeat": repeat, "batch": batch}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", help="an earlier commit to measure on the same images")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--memory", type=int, default=0, help="photos in the memory run (0 skips it; default settings only)")
    add_variant_option(ap)
    args = ap.parse_args()
    loads = [machine_load()]
    with tempfile.TemporaryDirectory(prefix="ferx-speed-") as tmp, code_sources(args.base) as sources:
        (Path(tmp) / "manifest.json").write_text(json.dumps(images(Path(tmp))))
        runs = {code: (src, "{}") for code, src in sources.items()}
        runs.update({label: (sources["this checkout"], json.dumps(o)) for label, o in variants(args.variant)})
        results: dict[str, list[dict]] = {code: [] for code in runs}
        for _ in range(args.rounds):
            for code, (src, overrides) in runs.items():
                results[code].append(run_child(src, CHILD, str(Path(tmp) / "manifest.json"), str(args.repeats), overrides))
                print(f"  {code}: {results[code][-1]}", file=sys.stderr)
                loads.append(machine_load())
        memory = {code: memory_run(src, args.memory) for code, src in sources.items()} if args.memory else {}
    print(f"{os.cpu_count()} CPUs; medians of {args.rounds} rounds; {loads[0]} at the start, {loads[-1]} at the end")
    print("| case | " + " | ".join(f"{c} ms (CPU ms) | faces" for c in results) + " |")
    print("|---|" + "---|---|" * len(results))
    for case in [k for k in results[next(iter(results))][0] if k != "module"]:
        cells = []
        for rows in results.values():
            ms = statistics.median(r[case]["ms"] for r in rows)
            cpu = statistics.median(r[case]["cpu_ms"] for r in rows)
            extra = f" = {1000 / ms:.1f}/s" if case.startswith("single") else ""
            cells.append(f"{ms:.0f}{extra} ({cpu:.0f}) | {rows[0][case].get('faces', '–')}")
        print(f"| {case} | " + " | ".join(cells) + " |")
    for code, m in memory.items():
        print(f"memory, {code}: {m['photos']} photos of 300–4000 px, {m['faces']} faces, {m['seconds']} s; "
              f"peak RSS {m['peak_mb']} MB (after loading {m['start_mb']} MB)")


if __name__ == "__main__":
    main()
