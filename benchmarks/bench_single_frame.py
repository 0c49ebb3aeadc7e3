"""Single-image latency of the default Analyzer on 640×480 one-face JPEGs (bench_serve's frames).

    python benchmarks/bench_single_frame.py LABEL
    PYTHONPATH=<another ferx checkout>/src python benchmarks/bench_single_frame.py before

Decode included; 3 warm-up images, then 3 passes over 10 frames; prints the median and p90 in ms.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import frames  # noqa: E402


def main(label: str) -> None:
    import ferx

    images = frames(10)
    analyzer = ferx.Analyzer()
    for image in images[:3]:
        analyzer.analyze(image)
    seconds = []
    for _ in range(3):
        for image in images:
            t = time.perf_counter()
            analyzer.analyze(image)
            seconds.append(time.perf_counter() - t)
    print(label, "median ms", round(statistics.median(seconds) * 1e3, 1),
          "p90", round(float(np.percentile(seconds, 90)) * 1e3, 1))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("label", nargs="?", default="ferx", help="the name the figures are printed under")
    main(ap.parse_args().label)
