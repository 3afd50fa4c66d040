"""usage: pgcpu.py NAME — waits for the run's max-rate phase, then samples every PostgreSQL
process's CPU (by its title) every 0.5 s until the fixed-rate phase; prints seconds by title."""
import os, sys, time, collections, re
name = sys.argv[1]
console = f"/tmp/pgprobe/{name}.console.txt"
pm = int(open("/work/main/.local/postgres/data/postmaster.pid").readline())
tick = os.sysconf("SC_CLK_TCK")
def seen(marker):
    try: return marker in open(console).read()
    except FileNotFoundError: return False
def snapshot():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
            fields = stat.rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            if int(pid) != pm and ppid != pm: continue
            title = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()
            out[int(pid)] = (title, int(fields[11]) + int(fields[12]))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out
while not seen("== max rate"): time.sleep(0.2)
base = snapshot(); last = dict(base); totals = collections.Counter()
while not seen("== fixed rate"):
    time.sleep(0.5)
    now = snapshot()
    for pid, (title, t) in now.items():
        t0 = last.get(pid, (title, 0 if pid not in base else base[pid][1]))[1]
        key = re.sub(r"\d+\.\d+\.\d+\.\d+\(\d+\)", "", title)
        key = re.sub(r"(postgres: )(\S+ \S+ \S+)? ?", r"\1", key) if False else key
        totals[key] += t - t0
    last.update(now)
for k, v in totals.most_common(): print(f"{v / tick:8.2f} s  {k[:110]}")
