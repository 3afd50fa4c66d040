import json
import sys
from pathlib import Path

rows=[json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines()]
def group(k):
    c=k.split(" ",1)[1]
    if "java" in c: return "kafka"
    if "postgres" in c: return "pg"
    if "aof-rewrite" in c: return "AOFRW"
    if "redis-server" in c or "redis-" in c: return "redis" if "16379" in c else "redis-n"
    if "paystream worker" in c or ("worker" in c and "paystream" in c): return "worker"
    if "reconcile" in c: return "reconcile"
    if "sink" in c: return "sink"
    if "produce" in c: return "gen"
    if "py-spy" in c: return "pyspy"
    if "loadtest.bench" in c: return "bench"
    return "other"
t0=rows[0]["t"]; a,b=int(sys.argv[2]),int(sys.argv[3])
for r in rows:
    t=r['t']-t0
    if not a<=t<=b: continue
    g={}
    for k,v in r["cpu"].items():
        n=group(k); g[n]=g.get(n,0)+v
    print(f"{t:5.0f} {sum(g.values()):4.2f} "+" ".join(f"{n}={v:.2f}" for n,v in sorted(g.items(),key=lambda x:-x[1]) if v>=0.03))
