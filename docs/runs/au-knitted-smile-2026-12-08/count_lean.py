from pathlib import Path
from ferx import Analyzer, FrameResult
an = Analyzer()
import os
paths = sorted((Path(os.environ.get("FERX_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data")) / "lfw-expressions" / "images").iterdir())
n = below = trace = point = 0
for r in an.analyze_many(paths):
    if not isinstance(r, FrameResult):
        continue
    for e in r.faces.explanations:
        n += 1
        below += "below the trace level" in e.text
        trace += "on a trace of" in e.text
        point += "point to" in e.text
print(f"{n} texts: 'below the trace level' {below}, 'on a trace of' {trace}, 'point to' {point}")
