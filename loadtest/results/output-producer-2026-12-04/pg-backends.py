"""Sample the CPU of every child of a postmaster once a second; print per-process deltas
between the first sample after START-file appears and the moment STOP-file appears."""
import os, sys, time
TICK = os.sysconf("SC_CLK_TCK")
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rfind(")") + 2:].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, (int(rest[13]) + int(rest[14])) / TICK
def title(pid):
    try:
        return open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()[:90]
    except OSError:
        return "?"
def snap(master):
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            ppid, cpu, _ = stat(int(d))
        except OSError:
            continue
        if ppid == master:
            out[int(d)] = (title(int(d)), cpu)
    _, mcpu, mchild = stat(master)
    out[master] = ("postmaster (own + reaped children)", mcpu + mchild)
    return out
master, flag_dir, interval = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
while not os.path.exists(f"{flag_dir}/START"): time.sleep(0.1)
first = snap(master); t0 = time.time(); last = first; titles = {}
while not os.path.exists(f"{flag_dir}/STOP"):
    time.sleep(interval)
    cur = snap(master)
    for pid, (t, c) in cur.items():
        titles.setdefault(pid, set()).add(t.split("(")[0][:60])
    # keep the newest reading of each pid (exited pids keep their last)
    last = {**last, **cur}
dt = time.time() - t0
rows = []
for pid, (t, c) in last.items():
    c0 = first.get(pid, (t, 0.0))[1]
    rows.append((c - c0, pid, " | ".join(sorted(titles.get(pid, {t})))[:150]))
rows.sort(reverse=True)
print(f"window {dt:.1f} s")
for d, pid, t in rows:
    if d > 0.05: print(f"{d:8.2f} s  {pid:7d}  {t}")
print(f"total {sum(r[0] for r in rows):.2f} s")
