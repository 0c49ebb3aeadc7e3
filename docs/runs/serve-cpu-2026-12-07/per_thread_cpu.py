import sys, os, time, subprocess, socket, threading, glob
sys.path.insert(0, "benchmarks")
from bench_serve import frames, level
fr = frames(40)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
p = subprocess.Popen([sys.executable, "-m", "ferx.serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", "2"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
import http.client
for _ in range(120):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/healthz"); r = c.getresponse(); r.read()
        if r.status == 200: break
    except Exception: pass
    time.sleep(0.5)
def tcpu():
    out = {}
    for t in glob.glob(f"/proc/{p.pid}/task/*"):
        try:
            name = open(t+"/comm").read().strip(); st = open(t+"/stat").read().rsplit(")",1)[1].split()
            out[t.rsplit("/",1)[1]] = (name, (int(st[11])+int(st[12]))/os.sysconf("SC_CLK_TCK"))
        except Exception: pass
    return out
level(port, fr, 4, 40, 60)
a = tcpu()
r = level(port, fr, 4, 160, 120)
b = tcpu()
print(r)
tot = 0
for k,(n,v) in sorted(b.items(), key=lambda x:-x[1][1]):
    d = v - a.get(k,(n,0))[1]; tot += d
    if d > 0.05: print(k, n, round(d/160*1000,1), "ms/req", "(main)" if int(k)==p.pid else "")
print("total", round(tot/160*1000,1))
p.terminate(); p.wait()
