"""table.py [DIR]: a line per bench JSON in DIR: tps, paystream µs/tx, floor (its PostgreSQL
copies), multiple, workers / Redis / PostgreSQL / sinks / Kafka at the max rate, then the fixed
rate's offered rate, busy share, µs/tx, p50 and p99, and the speed probe of both phases."""
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1] if len(sys.argv) > 1 else ".").glob("*.json")):
    d = json.loads(path.read_text())
    if "max_rate" not in d.get("phases", {}):
        continue
    m, f = d["phases"]["max_rate"], d["phases"].get("fixed_rate", {})
    c = m["cpu_us_per_tx"]
    w = c.get("worker-1", 0) + c.get("worker-2", 0)
    sinks = c.get("sink-ledger", 0) + c.get("sink-reporting", 0)
    floor = d.get("floor") or {}
    copies = floor.get("postgres_us_per_tx_repeats", [])
    fc = f.get("cpu_us_per_tx", {})
    print(f"{path.stem:5} {d['tps']:>7,.0f} tps {d.get('cpu_us_per_tx_total') or c.get('total', 0):6.1f} µs/tx "
          f"floor {d.get('floor_us_per_tx') or 0:5.1f} {tuple(copies)} {d.get('floor_multiple') or 0:.2f}x | "
          f"workers {w:5.1f} redis {c.get('redis', 0):5.1f} pg {c.get('postgres', 0):5.1f} "
          f"sinks {sinks:5.1f} kafka {c.get('kafka', 0):5.1f} | fixed {f.get('offered_tps') or 0:,.0f}/s "
          f"busy {f.get('busy_share') or 0:.2f} {fc.get('total', 0):6.1f} µs/tx "
          f"(w {fc.get('worker-1', 0) + fc.get('worker-2', 0):5.1f} r {fc.get('redis', 0):5.1f}) "
          f"p50 {f.get('e2e_p50_ms')} p99 {f.get('e2e_p99_ms')} ms | speed {m.get('speed_probe_us')} / {f.get('speed_probe_us')}")
