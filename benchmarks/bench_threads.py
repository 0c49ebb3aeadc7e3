"""Throughput of one shared Analyzer from several threads vs a pool of analyzers, and peak memory
over a long run of photos of mixed sizes.

    python benchmarks/bench_threads.py [--images 120] [--mixed 500]

Throughput: single-face 640×480 frames built from lfw-expressions photos (as bench_speed.py), the
default pipeline. Rows: one Analyzer shared by 1, 2 and 4 threads (default LiteRT threads = 2,
and with threads=1 per model), and a pool of 2 analyzers, each used by one worker thread.
Memory: one Analyzer over
`--mixed` lfw photos each resized to a random size of 300–4000 px on the longer side (seeded),
run in a fresh process; peak RSS from /proc/self/status VmHWM.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import queue
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ferx import Analyzer, load_image
from ferx.data.mosaic import compose

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "lfw-expressions"


def frames(n: int) -> list[np.ndarray]:
    rows = list(csv.DictReader(open(LFW / "labels.csv")))
    rng = np.random.default_rng(7)
    out = []
    with Analyzer(aus=None, expression=None, explain=None) as a:
        for row in rows[::13]:
            img = load_image(LFW / "images" / row["image"])
            faces = a.analyze(img).faces
            if len(faces) == 1:
                out.append(compose([img], [faces.boxes[0]], [220], (640, 480), rng).image)
            if len(out) == n:
                break
    return out


def shared(images: list[np.ndarray], n_threads: int, litert_threads: int) -> float:
    with _analyzer(litert_threads) as a:
        for im in images[:4]:
            a.analyze(im)  # warm-up: interpreters for the frame's shapes
        return _run(images, [a] * n_threads)


def pool(images: list[np.ndarray], n: int, litert_threads: int) -> float:
    analyzers = [_analyzer(litert_threads) for _ in range(n)]
    try:
        for a in analyzers:
            for im in images[:4]:
                a.analyze(im)
        return _run(images, analyzers)
    finally:
        for a in analyzers:
            a.close()


def _analyzer(litert_threads: int) -> Analyzer:
    return Analyzer(detector={"name": "blazeface", "options": {"threads": litert_threads}},
                    landmarker={"name": "mediapipe", "options": {"threads": litert_threads}})


def _run(images: list[np.ndarray], workers: list[Analyzer]) -> float:
    """Images per second with one thread per entry of `workers` pulling from one queue."""
    q: queue.Queue[np.ndarray | None] = queue.Queue()
    for im in images:
        q.put(im)
    for _ in workers:
        q.put(None)

    def work(a: Analyzer) -> None:
        while (im := q.get()) is not None:
            a.analyze(im)

    threads = [threading.Thread(target=work, args=(a,)) for a in workers]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return len(images) / (time.perf_counter() - t)


MEMORY_SCRIPT = """
import csv, sys, time, numpy as np
from PIL import Image
from ferx import Analyzer
lfw, n = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(lfw + "/labels.csv")))
def hwm():  # peak RSS of this process in kB (VmHWM: unlike getrusage's ru_maxrss it is reset by exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
rng = np.random.default_rng(0)
faces = 0
t = time.perf_counter()
with Analyzer() as a:
    start = hwm()
    for k in range(n):
        im = Image.open(lfw + "/images/" + rows[(k * 7) % len(rows)]["image"]).convert("RGB")
        side = int(rng.integers(300, 4000)); aspect = rng.uniform(0.6, 1.6)
        w, h = (side, int(side / aspect)) if aspect > 1 else (int(side * aspect), side)
        faces += len(a.analyze(np.asarray(im.resize((w, h)))).faces)
print(n, faces, start // 1024, hwm() // 1024, round(time.perf_counter() - t, 1))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=120, help="frames per throughput row")
    ap.add_argument("--mixed", type=int, default=500, help="photos in the memory run (0 skips it)")
    args = ap.parse_args()
    images = frames(40)
    images = [images[k % len(images)] for k in range(args.images)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{len(images)} single-face 640×480 frames per row, default pipeline")
    print("| setup | LiteRT threads per model | images/s |")
    print("|---|---|---|")
    for litert in (2, 1):
        for n in (1, 2, 4):
            print(f"| one shared Analyzer, {n} thread(s) | {litert} | {shared(images, n, litert):.1f} |", flush=True)
        print(f"| pool of 2 analyzers, 1 thread each | {litert} | {pool(images, 2, litert):.1f} |", flush=True)
    if args.mixed:
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(LFW), str(args.mixed)],
                             capture_output=True, text=True, check=True)
        n, faces, start, peak, seconds = out.stdout.split()[-5:]
        print(f"\nmixed sizes: {n} photos (300–4000 px), {faces} faces, {seconds} s; peak RSS {peak} MB "
              f"(after model load {start} MB)")
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)")


if __name__ == "__main__":
    main()
