"""pgsplit.py NAME: each postgres process's CPU over the max-rate phase, named by what it ran."""
import json, sys, collections
name = sys.argv[1]
ph = dict(l.split() for l in open(f"/tmp/s59/{name}.phases.txt"))
t0, t1 = float(ph["max_start"]), float(ph["fixed_start"])
rows = [json.loads(l) for l in open(f"/tmp/s59/{name}.pgwatch.jsonl")]
first = {}; last = {}; kind = {}
for r in rows:
    for a in r["act"]:
        q = (a.get("q") or "")
        pid = str(a["pid"])
        if a["backend_type"] == "autovacuum worker": kind[pid] = "autovacuum"
        elif "ledger" in q: kind.setdefault(pid, "ledger sink")
        elif "report" in q: kind.setdefault(pid, "reporting sink")
        elif "labels" in q: kind.setdefault(pid, "labels sink")
    if not (t0 <= r["t"] <= t1): continue
    for pid, (title, ticks) in r["procs"].items():
        first.setdefault(pid, (title, ticks)); last[pid] = (title, ticks)
tot = collections.Counter()
for pid, (title, ticks) in last.items():
    t = kind.get(pid) or " ".join(title.split()[:3])
    tot[t] += ticks - first[pid][1]
tx = json.load(open(f"/tmp/s59/{name}.json"))["phases"]["max_rate"]["transactions"]
for t, v in tot.most_common(): print(f"{t:45s} {v/100:7.2f} s  {v*1e4/tx:6.1f} us/tx")
print("total", sum(tot.values())/100, "s", round(sum(tot.values())*1e4/tx,1), "us/tx")
