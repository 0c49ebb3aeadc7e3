import sys, time, threading
sys.path.insert(0, "benchmarks")
from bench_serve import frames
from ferx.serve.app import _State, _analyze_frame, result_dict, _json, analyzer_config
from ferx.serve.settings import ServeSettings
from ferx.serve.schema import AnalyzeOptions
from ferx import Analyzer
fr = frames(40)
st = ServeSettings(threads=2)
an = Analyzer(analyzer_config(st))
state = _State(st, an); opts = AnalyzeOptions()
def run(items):
    for d in items:
        f, r = _analyze_frame(state, d, "x.jpg"); _json(result_dict(f, r, opts))
run(fr[:6])
for nthreads in (1, 2, 1, 2):
    items = fr * 2
    c0, t0 = time.process_time(), time.perf_counter()
    ths = [threading.Thread(target=run, args=(items[i::nthreads],)) for i in range(nthreads)]
    [t.start() for t in ths]; [t.join() for t in ths]
    print(nthreads, "threads: cpu ms/req", round((time.process_time()-c0)/len(items)*1000,1), "wall ms/req", round((time.perf_counter()-t0)/len(items)*1000,1))
