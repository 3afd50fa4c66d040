import json, sys, re
cols = ['kafka','load-generator','postgres','redis','sink-ledger','sink-reporting','worker-1','worker-2']
print("| run | tps | CPU µs/tx | floor | multiple | " + " | ".join(cols) + " | redis u+s (s) | p99 at 70% |")
print("|---|" + "---:|" * (len(cols) + 6))
for name in sys.argv[1:]:
    try: d = json.load(open(f'/tmp/pgprobe/{name}.json'))
    except Exception: continue
    c = d['cpu_us_per_tx']
    rc = open(f'/tmp/pgprobe/{name}.redis-cpu.txt').read().split()
    try:
        u0, s0, u1, s1 = int(rc[2]), int(rc[4]), int(rc[7]), int(rc[9])
        rcpu = f"{(u1-u0)/100:.1f}+{(s1-s0)/100:.1f}"
    except Exception: rcpu = "?"
    print(f"| {name} | {d['tps']:,.0f} | {d['cpu_us_per_tx_total']} | {d['floor_us_per_tx']} | {d['floor_multiple']}x | " + " | ".join(str(c.get(k)) for k in cols) + f" | {rcpu} | {d['e2e_p99_ms_at_70pct']:.0f} |")
