"""usage: pgcpu2.py NAME — over the run's max-rate phase, every PostgreSQL process's CPU by pid,
named by its client process (its command line, found from the connection's port with `ss`) and
the states its title showed; prints seconds per pid."""
import collections, re, subprocess, sys, time
from pgcpu import seen, snapshot, tick
console = f"/tmp/pgprobe/{sys.argv[1]}.console.txt"
def clients():
    """client port -> its process's command line"""
    out = {}
    for line in subprocess.run(["ss", "-tnpH"], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) < 6 or not parts[4].endswith(":15432"): continue
        port = parts[3].rsplit(":", 1)[1]
        m = re.search(r"pid=(\d+)", line)
        if m:
            try: cmd = open(f"/proc/{m.group(1)}/cmdline").read().replace("\0", " ")[:90]
            except FileNotFoundError: cmd = "?"
            out[port] = cmd
    return out
while not seen(console, "== max rate"): time.sleep(0.2)
base = snapshot(); ports = clients(); last = dict(base)
cpu = collections.Counter(); states = collections.defaultdict(collections.Counter); who = {}
while not seen(console, "== fixed rate"):
    time.sleep(0.5)
    now = snapshot()
    for pid, (title, t) in now.items():
        t0 = last[pid][1] if pid in last else 0
        cpu[pid] += t - t0
        m = re.search(r"\((\d+)\)\s*(.*)$", title)
        if m:
            if m.group(1) not in ports: ports.update(clients())
            who.setdefault(pid, ports.get(m.group(1), "?"))
            states[pid][m.group(2) or "-"] += t - t0
        else:
            who.setdefault(pid, title[:60])
    last.update(now)
for pid, v in cpu.most_common():
    if v == 0: continue
    st = ", ".join(f"{k} {c / tick:.2f}" for k, c in states[pid].most_common(4))
    print(f"{v / tick:7.2f} s  pid {pid}  {who.get(pid, '?')}  [{st}]")
