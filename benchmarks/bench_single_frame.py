"""Single-image latency of the default Analyzer on 640×480 one-face JPEGs (bench_serve's frames).

    python benchmarks/bench_single_frame.py LABEL
    PYTHONPATH=<another ferx checkout>/src python benchmarks/bench_single_frame.py before

Decode included; 3 warm-up images, then 3 passes over 10 frames; prints the median and p90 in ms.
"""
import sys, time, statistics, io
sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
import numpy as np
from bench_serve import frames
import ferx
fs = frames(10)
a = ferx.Analyzer()
for b in fs[:3]: a.analyze(b)
ts=[]
for r in range(3):
    for b in fs:
        t=time.perf_counter(); a.analyze(b); ts.append(time.perf_counter()-t)
print(sys.argv[1], "median ms", round(statistics.median(ts)*1e3,1), "p90", round(np.percentile(ts,90)*1e3,1))
