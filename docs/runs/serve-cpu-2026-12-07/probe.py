import sys, time, cProfile, pstats, io, json
sys.path.insert(0, "benchmarks")
from bench_serve import frames
from ferx.serve.app import _State, _analyze_frame, result_dict, _json
from ferx.serve.settings import ServeSettings
from ferx.serve.schema import AnalyzeOptions
from ferx.serve.app import analyzer_config
from ferx import Analyzer
fr = frames(40)
st = ServeSettings()
an = Analyzer(analyzer_config(st))
state = _State(st, an)
opts = AnalyzeOptions()
for d in fr[:5]:
    f, r = _analyze_frame(state, d, "x.jpg"); _json(result_dict(f, r, opts))
T = {"decode+analyze":0, "dict":0, "json":0}
import resource
c0 = time.process_time()
for d in fr*2:
    t=time.perf_counter(); f, r = _analyze_frame(state, d, "x.jpg"); t1=time.perf_counter()
    dd = result_dict(f, r, opts); t2=time.perf_counter(); _json(dd); t3=time.perf_counter()
    T["decode+analyze"]+=t1-t; T["dict"]+=t2-t1; T["json"]+=t3-t2
print({k: round(v/80*1000,2) for k,v in T.items()}, "cpu ms/req", round((time.process_time()-c0)/80*1000,1))
pr = cProfile.Profile(); pr.enable()
for d in fr:
    f, r = _analyze_frame(state, d, "x.jpg"); _json(result_dict(f, r, opts))
pr.disable()
s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(30); print(s.getvalue()[:6000])
