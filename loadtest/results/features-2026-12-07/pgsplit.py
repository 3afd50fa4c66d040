"""pgsplit.py DIR NAME: each postgres process's CPU over NAME's max-rate phase (from
NAME.pgwatch.jsonl.gz and NAME.phases.txt), named by what it ran (kafkabatch-2026-12-06's, the
directory an argument)."""
import collections, gzip, json, sys
out, name = sys.argv[1], sys.argv[2]
ph = dict(line.split() for line in open(f"{out}/{name}.phases.txt"))
t0, t1 = float(ph["max_start"]), float(ph["fixed_start"])
rows = [json.loads(line) for line in gzip.open(f"{out}/{name}.pgwatch.jsonl.gz", "rt")]
first, last, kind = {}, {}, {}
for r in rows:
    for a in r["act"]:
        q = a.get("q") or ""
        pid = str(a["pid"])
        if a["backend_type"] == "autovacuum worker": kind[pid] = "autovacuum"
        elif "ledger" in q: kind.setdefault(pid, "ledger sink")
        elif "report" in q: kind.setdefault(pid, "reporting sink")
    if not (t0 <= r["t"] <= t1): continue
    for pid, (title, ticks) in r["procs"].items():
        first.setdefault(pid, (title, ticks)); last[pid] = (title, ticks)
tot = collections.Counter()
for pid, (title, ticks) in last.items():
    tot[kind.get(pid) or " ".join(title.split()[:3])] += ticks - first[pid][1]
tx = json.load(open(f"{out}/{name}.json"))["phases"]["max_rate"]["transactions"]
for t, v in tot.most_common(): print(f"{t:45s} {v / 100:7.2f} s  {v * 1e4 / tx:6.1f} us/tx")
print("total", sum(tot.values()) / 100, "s", round(sum(tot.values()) * 1e4 / tx, 1), "us/tx")
