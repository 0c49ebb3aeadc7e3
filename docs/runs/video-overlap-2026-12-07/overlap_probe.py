"""analyze_video with the readings on a second thread or in turn (VideoConfig.overlap), LiteRT at 2 and 1
threads: python docs/runs/video-overlap-2026-12-07/overlap_probe.py (from the repository root)."""
import sys, tempfile, time
sys.path.insert(0, 'benchmarks')
from pathlib import Path
import bench_outputs as b
from ferx import Analyzer
from ferx.video import analyze_video
clips = {'talking': b.TALKING, 'audience': b.audience_clip(Path(tempfile.mkdtemp()) / 'audience.mp4')}
for th in (2, 1):
    with Analyzer(landmarker={"name": "mediapipe", "options": {"threads": th}}, detector={"name": "blazeface", "options": {"threads": th}}) as a:
        a.example()
        for name, c in clips.items():
            res = {}
            for ov in (False, True, False, True):
                t = time.perf_counter(); n = sum(1 for _ in analyze_video(a, c, overlap=ov)); w = time.perf_counter() - t
                res.setdefault(ov, []).append(w)
            print(f"threads {th} {name}: overlap off {min(res[False]):.2f}s on {min(res[True]):.2f}s", flush=True)
