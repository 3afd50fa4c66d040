"""diff.py A B: per-process switches between two snaps, grouped by role."""
import json, sys, re
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("system ctxt", b["ctxt"] - a["ctxt"])
groups = {}
for pid, q in b["procs"].items():
    p = a["procs"].get(pid)
    if not p:
        continue
    cmd = q["cmd"]
    role = ("worker" if "worker" in cmd and "paystream" in cmd else
            "kafka" if "kafka.Kafka" in cmd else
            "postgres" if cmd.startswith("postgres") else
            "redis" if "redis-server" in cmd else
            "sink" if "sink" in cmd else
            "generator" if "produce" in cmd else None)
    if role is None:
        continue
    d = (q["vol"] - p["vol"], q["invol"] - p["invol"], q["cpu"] - p["cpu"])
    if d == (0, 0, 0):
        continue
    key = role if role not in ("worker", "sink", "redis") else f"{role}:{pid}:{cmd[-40:]}"
    g = groups.setdefault(key, [0, 0, 0])
    for i in range(3):
        g[i] += d[i]
for k, (v, i, c) in sorted(groups.items()):
    print(f"{k:70s} voluntary {v:8d}  preempted {i:8d}  cpu ticks {c}")
