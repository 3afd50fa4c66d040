"""Per rewrite (RUN.events.txt) and for the quiet seconds: the account-state Redis main thread's
CPU and its wait for a CPU, per second of wall time, and the rewrite child's (sampler.py's file)."""
import gzip
import sys

path = sys.argv[1]
rows = [list(map(float, line.split())) for line in (gzip.open(path, 'rt') if path.endswith('.gz') else open(path))]
events = [line.split() for line in open(sys.argv[2]) if line.startswith('rewrite')]


def rates(t0, t1):
    inside = [r for r in rows if t0 <= r[0] <= t1]
    if len(inside) < 2:
        return None
    a, b = inside[0], inside[-1]
    dt = b[0] - a[0]
    child_run = sum(max(0.0, y[4] - x[4]) for x, y in zip(inside, inside[1:]) if x[4] and y[4])
    child_wait = sum(max(0.0, y[5] - x[5]) for x, y in zip(inside, inside[1:]) if x[4] and y[4])
    return ((b[1] - a[1]) / 1e9 / dt, (b[2] - a[2]) / 1e9 / dt, (b[3] - a[3]) / dt,
            child_run / 1e9 / dt, child_wait / 1e9 / dt)


print('window                         main cpu  main wait  faults/s  child cpu  child wait (cores)')
for _, i, _, nice, t in events:
    t = float(t)
    r = rates(t, t + 2.5)
    print(f'rewrite {i} nice {nice:>3} (2.5 s)     {r[0]:8.2f} {r[1]:10.2f} {r[2]:9.0f} {r[3]:10.2f} {r[4]:11.2f}')
for _, i, _, nice, t in events:
    t = float(t)
    r = rates(t + 12, t + 30)
    print(f'after rewrite {i} (+12..30 s)     {r[0]:8.2f} {r[1]:10.2f} {r[2]:9.0f} {r[3]:10.2f} {r[4]:11.2f}')
