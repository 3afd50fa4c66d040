"""The pairs' table of docs/benchmarks.md (2026-12-04, night): python table3.py NAME:COMMIT..."""
import json, sys
from pathlib import Path
here = Path(__file__).parent
for spec in sys.argv[1:]:
    name, commit = spec.split(":")
    d = json.loads((here / f"{name}.json").read_text())
    c, f = d["cpu_us_per_tx"], d["floor"]
    w = c["worker-1"] + c["worker-2"]
    reps = ", ".join(f"{r}" for r in f.get("postgres_us_per_tx_repeats", []))
    off = d["phases"]["fixed_rate"]["offered_tps"]
    print(f"  | {name} | {commit} | {d['tps']:,.0f} | {d['cpu_us_per_tx_total']} | {f['us_per_tx']['total']} ({reps}) "
          f"| {d['floor_multiple']}x | {w:.1f} | {c['redis']} | {c['postgres']} | {d['e2e_p99_ms_at_70pct']:.0f} ms ({off:,}/s) |")
