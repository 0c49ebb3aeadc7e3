"""`ferx batch` benchmark: images/s and faces/s of the local engine (process pool) and the Ray engine
(a private 2-CPU Ray cluster on 127.0.0.1) on the same images, the overhead per image against a
plain in-process `Analyzer` loop, and the peak memory of each worker. Prints a markdown table.

    python benchmarks/bench_batch.py                       # 1,000 lfw-expressions photos, 2 workers
    python benchmarks/bench_batch.py --n 200 --engines local
    unshare -rn sh -c 'ip link set lo up && exec python benchmarks/bench_batch.py'   # Ray on loopback only

Rows per configuration: wall (everything, start-up included), start-up (until the first result
arrived: pool spawn or cluster + actors, model loading), steady images/s (from the result that
completed 25 % of the images to the last one),
faces/s, and peak RSS per worker process (sampled every 0.2 s with psutil). Overhead per image =
(1-worker steady time − in-process time) / images: what the engine adds per image (reading bytes,
hashing, Arrow rows, transport, commit) when both do the same analysis on one core.
The machine may be shared: the load average before and after is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data"))


class MemorySampler:
    """Peak RSS per worker process, sampled in a thread: the local pool's children, or Ray actors."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _workers(self) -> list[Any]:
        import psutil

        def cmdline(p: Any) -> str:
            try:
                return " ".join(p.cmdline())
            except psutil.Error:  # gone, or a zombie, between the listing and this call
                return ""

        if self.engine == "local":
            return [p for p in psutil.Process().children(recursive=True) if "resource_tracker" not in cmdline(p)]
        return [p for p in psutil.process_iter() if "ChunkAnalyzer" in cmdline(p)]

    def _loop(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for p in self._workers():
                try:
                    rss = p.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0.0), rss)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def in_process(files: list[str], threads: int) -> tuple[float, int]:
    """A plain Analyzer loop in this process, LiteRT on `threads` threads."""
    from ferx.config import AnalyzerConfig
    from ferx.pipeline import Analyzer
    from ferx.pipeline import with_threads

    with Analyzer(with_threads(AnalyzerConfig(), threads)) as analyzer:
        analyzer.analyze(files[0])  # warm-up, as a worker's schema probe
        t0 = time.perf_counter()
        faces = sum(len(r.faces) for r in analyzer.analyze_many(files) if hasattr(r, "faces"))
        return time.perf_counter() - t0, faces


def batch(files: list[str], engine: str, workers: int, chunk: int) -> dict[str, Any]:
    from ferx.runs.dataset import run_dataset as run_bulk

    marks: list[tuple[int, float]] = []  # (inputs finished, time) after each result

    def mark(finished: int, _: object) -> None:
        marks.append((finished, time.perf_counter()))

    with tempfile.TemporaryDirectory() as tmp, MemorySampler(engine) as mem:
        t0 = time.perf_counter()
        s = run_bulk(files, Path(tmp) / "ds", engine=engine, workers=workers, chunk=chunk, on_progress=mark)
        wall = time.perf_counter() - t0
    total = s.done + s.failed
    startup = marks[0][1] - t0
    # Steady rate: from the result that completed a quarter of the inputs to the last one. Not from
    # the first result: an engine may deliver results queued during its start-up in a burst, which
    # would count their work as free.
    k = next(i for i, (done, _) in enumerate(marks) if done >= total // 4)
    n = marks[-1][0] - marks[k][0]
    steady = marks[-1][1] - marks[k][1]
    return {"engine": engine, "workers": workers, "images": total, "faces": s.faces, "wall": wall,
            "startup": startup, "steady_ips": n / steady, "fps": s.faces * (n / total) / steady,
            "wall_ips": total / wall, "mem": sorted(mem.peak.values()), "steady": steady, "n": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--no-overhead", action="store_true", help="skip the 1-worker and in-process runs")
    args = ap.parse_args()
    files = [str(p) for p in sorted((SHARED / "lfw-expressions" / "images").glob("*.jpg"))[: args.n]]
    print(f"{len(files)} images from lfw-expressions; load average before: {os.getloadavg()}")
    rows = []
    for engine in args.engines.split(","):
        rows.append(batch(files, engine, args.workers, args.chunk))
        print(rows[-1], flush=True)
    if not args.no_overhead:
        plain: dict[int, float] = {}
        for engine in args.engines.split(","):
            # the same LiteRT threads as the engine's single worker: all CPUs for a pool process,
            # 1 for a Ray actor (it holds 1 CPU)
            threads = (os.cpu_count() or 1) if engine == "local" else 1
            if threads not in plain:
                plain[threads], faces = in_process(files, threads)
                print(f"in-process Analyzer loop, {threads} thread(s): {len(files) / plain[threads]:.2f} images/s, "
                      f"{faces / plain[threads]:.2f} faces/s", flush=True)
            r = batch(files, engine, 1, args.chunk)
            per_image_plain = plain[threads] / len(files)
            r["plain_ips"] = len(files) / plain[threads]
            r["overhead_ms"] = (r["steady"] / r["n"] - per_image_plain) * 1e3
            rows.append(r)
            print(rows[-1], flush=True)
    print(f"load average after: {os.getloadavg()}")
    print("\n| engine | workers | images | faces | wall s | start-up s | images/s (steady) | faces/s (steady) "
          "| images/s (wall) | overhead ms/image | peak RSS per worker MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mem = ", ".join(f"{m:.0f}" for m in r["mem"])
        oh = f"{r['overhead_ms']:.1f} (vs {r['plain_ips']:.1f} img/s in-process)" if "overhead_ms" in r else ""
        print(f"| {r['engine']} | {r['workers']} | {r['images']} | {r['faces']} | {r['wall']:.1f} | {r['startup']:.1f} "
              f"| {r['steady_ips']:.2f} | {r['fps']:.2f} | {r['wall_ips']:.2f} | {oh} | {mem} |")


if __name__ == "__main__":
    main()
