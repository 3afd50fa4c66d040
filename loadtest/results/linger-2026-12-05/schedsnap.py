"""Snapshot every process's CPU time and run-queue wait (/proc/PID/task/*/schedstat), summed over
its threads; with two snapshots, print per process: CPU s, waiting-for-a-core s, the ratio."""
import json, os, sys

def snap():
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\0', b' ').decode()[:160]
            run = wait = 0
            for t in os.listdir(f'/proc/{pid}/task'):
                a, b, _ = open(f'/proc/{pid}/task/{t}/schedstat').read().split()
                run += int(a); wait += int(b)
            out[pid] = (cmd, run, wait)
        except OSError:
            continue
    return out

if sys.argv[1] == 'snap':
    json.dump(snap(), open(sys.argv[2], 'w'))
else:
    a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
    rows = []
    for pid, (cmd, run, wait) in b.items():
        if pid in a:
            dr, dw = (run - a[pid][1]) / 1e9, (wait - a[pid][2]) / 1e9
            if dr > 0.2:
                rows.append((dr, dw, pid, cmd))
    for dr, dw, pid, cmd in sorted(rows, reverse=True):
        print(f'{dr:7.2f} s cpu {dw:7.2f} s waiting for a core ({dw / dr:4.2f}x)  {pid} {cmd}')
