import json, sys
d = json.load(open(sys.argv[1]))
fr = d['phases']['fixed_rate']
t0 = fr['started_ms'] / 1000
p50, p99 = fr['latency_by_second_ms']['p50'], fr['latency_by_second_ms']['p99']
print('phase p99', fr['e2e_p99_ms'], 'p50', fr['e2e_p50_ms'], 'offered', fr['offered_tps'], 'tps', fr['tps'])
ev = [l.split() for l in open(sys.argv[2]) if l.startswith('rewrite')]
for _, i, _, nice, t in ev:
    s = int(float(t) - t0)
    w99 = [x for x in p99[s - 1:s + 10] if x is not None]
    w50 = [x for x in p50[s - 1:s + 10] if x is not None]
    print(f'rewrite {i} nice {nice} at {s:3d} s: p99 max {max(w99)} p50 max {max(w50)}  p99 seq {p99[s-1:s+10]}')
quiet = [x for k, x in enumerate(p99) if x is not None and all(abs(k - (float(e[4]) - t0)) > 12 for e in ev)]
quiet.sort(); print('quiet seconds p99: median', quiet[len(quiet)//2], 'max', quiet[-1])
