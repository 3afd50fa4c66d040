import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["worker"]]
prev = None; t0 = None
for r in rows:
    if prev and r["evalsha"] > prev["evalsha"]:
        if t0 is None: t0 = prev["t"]
        b = r["evalsha"] - prev["evalsha"]
        w, pw = r["worker"], prev["worker"]
        rd, prd = r["redis"], prev["redis"]
        print(f"{r['t']-t0:5.0f}s b{b:3d} evalsha {r['evalsha']:5d} W u {(w['u']-pw['u'])*10/b:5.1f} s {(w['s']-pw['s'])*10/b:4.1f} flt/b {(w['minflt']-pw['minflt'])/b:6.0f} rss {w['rss_kb']/1024:6.0f}M | R u {(rd['u']-prd['u'])*10/b:5.1f} s {(rd['s']-prd['s'])*10/b:4.1f} flt/b {(rd['minflt']-prd['minflt'])/b:5.0f} rss {rd['rss_kb']/1024:5.0f}M keys {r['keys']}")
    prev = r
