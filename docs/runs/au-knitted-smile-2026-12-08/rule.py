import numpy as np, sys
from ferx import AU_CODES
z = np.load("/work/runs/s12/probe/readings.npz")
col = {c: j for j, c in enumerate(AU_CODES)}
def hits(aus, target, lo, hi, where):
    a = aus
    h = (a[:, col[target]] >= lo) & (a[:, col[target]] < hi)
    for c, (l, u) in where.items():
        h &= (a[:, col[c]] >= l) & (a[:, col[c]] < u)
    return h
def report(target, lo, hi, where):
    n = int(target[2:])
    # CK+
    h = hits(z["ck_aus"], target, lo, hi, where)
    code = z["ck_codes"][:, list(z["ck_coded"]).index(n)] if n in z["ck_coded"] else None
    print(f"CK+: {h.sum()} hits; coded present {int(code[h].sum()) if code is not None else '-'}; all coded present read >=A {int(((z['ck_aus'][:, col[target]]>=1)&(code==1)).sum()) if code is not None else '-'}")
    h = hits(z["pc_aus"], target, lo, hi, where)
    if n in z["pc_coded"]:
        lv = z["pc_codes"][:, list(z["pc_coded"]).index(n)]
        print(f"lfw presence codes: {h.sum()} hits; levels {sorted(lv[h].tolist())}; names {list(z['pc_names'][h])[:12]}")
    h = hits(z["ic_aus"], target, lo, hi, where)
    if n in z["ic_coded"]:
        j = list(z["ic_coded"]).index(n)
        print(f"intensity codes: {h.sum()} hits; coders seeing / judging {[(int(s), int(c)) for s, c in zip(z['ic_seen'][h, j], z['ic_coders'][h, j])]}; names {list(z['ic_names'][h])[:12]}")
inf = np.inf
rules = eval(sys.argv[1])
for r in rules:
    print("==", r); report(*r)
