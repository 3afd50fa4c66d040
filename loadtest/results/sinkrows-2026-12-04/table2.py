"""The comparison table of docs/benchmarks.md (2026-12-04, evening) from the runs' files:
python table2.py NAME... (files <NAME>.json and <NAME>.redis-cpu.txt beside this script)."""
import json, sys
from pathlib import Path
here = Path(__file__).parent
print("| run | tps | CPU µs/tx | floor (PG server + client, Kafka) | multiple | sinks (ledger + reporting) | postgres | redis | workers | p99 at 70% |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in sys.argv[1:]:
    d = json.loads((here / f"{name}.json").read_text())
    c, f = d["cpu_us_per_tx"], d["floor"]["us_per_tx"]
    sinks = c["sink-ledger"] + c["sink-reporting"]
    workers = c["worker-1"] + c["worker-2"]
    rate = d.get("fixed_rate_offered") or d.get("phases", {}).get("fixed rate", {}).get("offered")
    print(f"| {name} | {d['tps']:,.0f} | {d['cpu_us_per_tx_total']} | {f['total']} ({f['postgres_server']} + {f['postgres_client']}, {f['kafka']}) "
          f"| {d['floor_multiple']}x | {sinks:.1f} ({c['sink-ledger']} + {c['sink-reporting']}) | {c['postgres']} | {c['redis']} | {workers:.1f} "
          f"| {d['e2e_p99_ms_at_70pct']:.0f} ms |")
