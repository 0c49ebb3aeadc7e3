"""What the outputs a user asks for cost, against the analysis they come from (issue 24).

    python benchmarks/bench_outputs.py video [--repeat 2]      # video with outputs vs per-frame photo time
    python benchmarks/bench_outputs.py report [--photos 300]   # report time and size vs the analysis
    python benchmarks/bench_outputs.py report --base /tmp/ferx-base/src   # also the report of that ferx

video: for each clip, the whole `ferx analyze` video run with outputs — rows (CSV and Parquet),
segments, summary, timelines, and once more with the annotated video — against the still-image
pipeline (`Analyzer.analyze`) on every one of the same frames (decoding not counted for the photos,
counted for the video). Target: video ÷ photos ≤ 0.5. Also the timelines alone (`plot_timelines` on
the run's rows) against the run without them: target ≤ 1/5. Clips: WolfgangLanger_Pexels.mp4 (one
person, 472 frames) and "audience", composed here from lfw photos (seeded): 9 s at 24 fps, one
person throughout and 30 others flashing by for 0.2–0.6 s each — the shape of a clip with audience
shots, which gave 30 tracks and 60 timeline files.

report: `ferx analyze` of N lfw-expressions photos (every 7th of labels.csv) with --annotate into a
folder, timed; then `ferx report` of that folder, timed, and its size; with `--page-height`, also
the height in px of the page as headless Chromium lays it out at 1280 px wide (needs playwright and
a `chromium` on PATH). Targets: ≤ 2× the analysis,
≤ 10 MB per 300 photos. `--base SRC` also times the report of another ferx source tree on the same
folder (e.g. `git archive ff184f6 src | tar -x -C /tmp/ferx-base`), in a child process.

Both print the date and the load average: on a shared machine, compare figures of one run only.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data"))
TALKING = SHARED / "videos" / "WolfgangLanger_Pexels.mp4"
LFW = SHARED / "lfw-expressions"


def _stamp() -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs"


def lfw_photos(n: int) -> list[Path]:
    with open(LFW / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    return [LFW / "images" / r["image"] for r in rows[::7][:n]]


def audience_clip(path: Path, seconds: float = 9.0, fps: float = 24.0, others: int = 30) -> Path:
    """One person throughout, `others` faces flashing by (0.2–0.6 s each) at random places."""
    import numpy as np

    from ferx import load_image
    from ferx.video.compose import Actor, still, write_video

    photos = [load_image(p) for p in lfw_photos(others + 1)]
    rng = np.random.default_rng(24)
    starts = np.sort(rng.uniform(0.3, seconds - 0.7, others))
    lengths = rng.uniform(0.2, 0.6, others)
    places = [(float(rng.uniform(360, 580)), float(rng.uniform(70, 290))) for _ in range(others)]
    cast = [Actor(photos[0], still((170, 180), 220))]
    cast += [Actor(photos[k + 1], still(places[k], float(rng.uniform(90, 140)), visible=(starts[k], starts[k] + lengths[k])))
             for k in range(others)]
    return write_video(path, cast, size=(640, 360), fps=fps, seconds=seconds)


def photo_seconds(analyzer, video: Path) -> tuple[float, int]:
    """The still-image pipeline on every frame of the video: seconds in `analyze` (decoding aside)."""
    from ferx.video import VideoReader

    spent, n = 0.0, 0
    with VideoReader(video, prefetch=0) as reader:
        for frame in reader:
            t = time.perf_counter()
            analyzer.analyze(frame)
            spent += time.perf_counter() - t
            n += 1
    return spent, n


def video_seconds(analyzer, video: Path, out: Path, **outputs) -> tuple[float, object]:
    from ferx.runs.video import VideoOutputs, run_video

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    run = run_video(analyzer, video, out, outputs=VideoOutputs(**outputs))
    return time.perf_counter() - t, run


def bench_video(args: argparse.Namespace) -> None:
    from ferx import Analyzer
    from ferx.video.plots import plot_timelines

    tmp = Path(tempfile.mkdtemp(prefix="ferx-bench-outputs-"))
    clips = {"WolfgangLanger_Pexels.mp4": TALKING, "audience (composed)": audience_clip(tmp / "audience.mp4")}
    print(f"## video with outputs vs per-frame photo time — {_stamp()}")
    print("| clip | frames | tracks | photos: analyze() per frame s | video, rows+segments+timelines s | ratio | "
          "+ annotated.mp4 s | ratio | timelines alone s | ÷ run without them | files |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with Analyzer() as analyzer:
        analyzer.example()
        for name, clip in clips.items():
            photo, frames = min(photo_seconds(analyzer, clip) for _ in range(args.repeat))
            full = min(video_seconds(analyzer, clip, tmp / "full", formats=("csv", "parquet"))[0]
                       for _ in range(args.repeat))
            annotated = min(video_seconds(analyzer, clip, tmp / "ann", formats=("csv", "parquet"), annotate=True)[0]
                            for _ in range(args.repeat))
            bare, run = min((video_seconds(analyzer, clip, tmp / "bare", formats=("csv", "parquet"), timelines=False)
                             for _ in range(args.repeat)), key=lambda x: x[0])
            t = time.perf_counter()
            files = plot_timelines(tmp / "bare" / "rows.parquet", tmp / "bare")
            plots = time.perf_counter() - t
            print(f"| {name} | {frames} | {run.tracks} | {photo:.1f} | {full:.1f} | {full / photo:.2f} | "
                  f"{annotated:.1f} | {annotated / photo:.2f} | {plots:.2f} | {plots / bare:.2f} | {len(files)} |",
                  flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


def _report_child(src: str, folder: Path, target: Path) -> float:
    """Seconds the ferx under `src` takes to write the report of `folder` (in a child process)."""
    code = ("import sys, time; from ferx.report.build import write_report; t = time.perf_counter(); "
            "write_report(sys.argv[1], sys.argv[2]); print(time.perf_counter() - t)")
    env = dict(os.environ, PYTHONPATH=src)
    done = subprocess.run([sys.executable, "-c", code, str(folder), str(target)], env=env, capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def page_height(report: Path) -> int:
    """The laid-out height of the report at 1280 px wide, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(report.as_uri(), timeout=300_000)
            return int(page.evaluate("document.documentElement.scrollHeight"))
        finally:
            browser.close()


def bench_report(args: argparse.Namespace) -> None:
    from ferx import AnalyzerConfig
    from ferx.runs.photos import BatchOptions, run_photos

    tmp = Path(tempfile.mkdtemp(prefix="ferx-bench-report-"))
    photos = lfw_photos(args.photos)
    print(f"## report of {len(photos)} photos — {_stamp()}")
    print("| ferx | analysis (ferx analyze --annotate) s | report s | report ÷ analysis | size MB | MB per 300 photos |"
          + (" page height px |" if args.page_height else ""))
    print("|---|---|---|---|---|---|" + ("---|" if args.page_height else ""))
    out = tmp / "out"
    t = time.perf_counter()
    summary = run_photos(photos, out, AnalyzerConfig(), BatchOptions(formats=("json",), annotate=True), quiet=True)
    analysis = time.perf_counter() - t
    sources = [("this tree", str(ROOT / "src"))] + ([("base: " + args.base, args.base)] if args.base else [])
    for name, src in sources:
        target = tmp / f"report-{len(name)}.html"
        seconds = min(_report_child(src, out, target) for _ in range(args.repeat))
        mb = target.stat().st_size / 1e6
        height = f" {page_height(target):,} |" if args.page_height else ""
        print(f"| {name} | {analysis:.1f} | {seconds:.1f} | {seconds / analysis:.2f} | {mb:.1f} | "
              f"{mb * 300 / len(photos):.1f} |{height}", flush=True)
    print(f"({summary.files} photos, {summary.faces} faces, {summary.files_without_faces} without a face)")
    shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    v = sub.add_parser("video")
    v.add_argument("--repeat", type=int, default=2, help="runs per measurement (the fastest is kept)")
    r = sub.add_parser("report")
    r.add_argument("--photos", type=int, default=300)
    r.add_argument("--repeat", type=int, default=1)
    r.add_argument("--base", help="the src/ folder of another ferx to time the report of too")
    r.add_argument("--page-height", action="store_true", help="also each report's height in Chromium")
    args = p.parse_args(argv)
    (bench_video if args.what == "video" else bench_report)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
