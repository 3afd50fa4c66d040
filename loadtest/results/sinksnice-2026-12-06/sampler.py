"""Every 100 ms, the account-state Redis's main thread and its rewrite child (when there is one):
CPU run time and time spent runnable but waiting for a CPU (/proc/<pid>/task/<tid>/schedstat, ns),
and the main thread's minor page faults. Lines: t, main_run_ns, main_wait_ns, minflt, child_run_ns,
child_wait_ns."""
import sys
import time
from pathlib import Path

pid = int(Path('/work/main/.local/run/redis.pid').read_text())
out = open(sys.argv[1], 'w')


def schedstat(p, t):
    try:
        run, wait, _ = Path(f'/proc/{p}/task/{t}/schedstat').read_text().split()
        return int(run), int(wait)
    except (OSError, ValueError):
        return 0, 0


while True:
    try:
        stat = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
        kids = Path(f'/proc/{pid}/task/{pid}/children').read_text().split()
    except OSError:
        break
    run, wait = schedstat(pid, pid)
    crun, cwait = schedstat(kids[0], kids[0]) if kids else (0, 0)
    out.write(f'{time.time():.2f} {run} {wait} {stat[7]} {crun} {cwait}\n')
    out.flush()
    time.sleep(0.1)
