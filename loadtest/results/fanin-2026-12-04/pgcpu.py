"""usage: pgcpu.py NAME — waits for the run's max-rate phase, then samples every PostgreSQL
process's CPU (by its title) every 0.5 s until the fixed-rate phase; prints seconds by title.
pgcpu2.py shares its sampling."""
import os, sys, time, collections, re
pm = int(open("/work/main/.local/postgres/data/postmaster.pid").readline())
tick = os.sysconf("SC_CLK_TCK")
def seen(console, marker):
    try: return marker in open(console).read()
    except FileNotFoundError: return False
def snapshot():
    """pid -> (title, CPU ticks) of the postmaster and its children"""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            if int(pid) != pm and int(fields[1]) != pm: continue
            title = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()
            out[int(pid)] = (title, int(fields[11]) + int(fields[12]))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out
if __name__ == "__main__":
    console = f"/tmp/pgprobe/{sys.argv[1]}.console.txt"
    while not seen(console, "== max rate"): time.sleep(0.2)
    base = snapshot(); last = dict(base); totals = collections.Counter()
    while not seen(console, "== fixed rate"):
        time.sleep(0.5)
        now = snapshot()
        for pid, (title, t) in now.items():
            t0 = last.get(pid, (title, 0 if pid not in base else base[pid][1]))[1]
            totals[re.sub(r"\d+\.\d+\.\d+\.\d+\(\d+\)", "", title)] += t - t0
        last.update(now)
    for k, v in totals.most_common(): print(f"{v / tick:8.2f} s  {k[:110]}")
