"""Every 100 ms: the account-state Redis's CPU (main process; its live children apart) and its
minor page faults (copy-on-write after a fork shows there). Lines: t, main_cpu_s, child_cpu_s, minflt."""
import sys, time
from pathlib import Path
pid = int(Path('/work/main/.local/run/redis.pid').read_text())
tick = 100.0
out = open(sys.argv[1], 'w')
def fields(p):
    try:
        s = Path(f'/proc/{p}/stat').read_text()
    except OSError:
        return None
    return s.rsplit(')', 1)[1].split()
while True:
    f = fields(pid)
    if f is None: break
    main = (int(f[11]) + int(f[12])) / tick
    minflt = int(f[7])
    child = 0.0
    try:
        kids = Path(f'/proc/{pid}/task/{pid}/children').read_text().split()
    except OSError:
        kids = []
    for k in kids:
        g = fields(k)
        if g: child += (int(g[11]) + int(g[12])) / tick
    out.write(f'{time.time():.2f} {main:.2f} {child:.2f} {minflt} {len(kids)}\n'); out.flush()
    time.sleep(0.1)
