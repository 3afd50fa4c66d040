"""table.py [DIR]: a line per bench JSON in DIR: tps, paystream µs/tx, floor (its PostgreSQL
copies), multiple, workers, Redis, PostgreSQL, sinks, kafka, p99 at 70%."""
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1] if len(sys.argv) > 1 else ".").glob("*.json")):
    d = json.loads(path.read_text())
    if "max_rate" not in d.get("phases", {}):
        continue
    c = d["phases"]["max_rate"]["cpu_us_per_tx"]
    w = c.get("worker-1", 0) + c.get("worker-2", 0)
    sinks = c.get("sink-ledger", 0) + c.get("sink-reporting", 0)
    floor = d.get("floor") or {}
    copies = floor.get("postgres_us_per_tx_repeats", [])
    print(f"{path.stem:6} {d['transactions']:>9,} tx  {d['tps']:>8,.0f} tps  {d.get('cpu_us_per_tx_total') or c.get('total', 0):6.1f} µs/tx  "
          f"floor {d.get('floor_us_per_tx') or 0:5.1f} {tuple(copies)}  {d.get('floor_multiple') or 0:.2f}x  "
          f"workers {w:5.1f} redis {c.get('redis', 0):5.1f} pg {c.get('postgres', 0):5.1f} "
          f"sinks {sinks:5.1f} kafka {c.get('kafka', 0):5.1f}  p99@70% {d.get('e2e_p99_ms_at_70pct')} ms")
