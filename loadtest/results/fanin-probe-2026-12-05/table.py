"""One line per worker_bench JSON here: python table.py (run from this directory)."""
import json
import pathlib

for path in sorted(pathlib.Path(".").glob("*.json")):
    d = json.loads(path.read_text())
    print(f"{path.stem:16} {d['tx_per_s']:>7,} tx/s  worker {d['worker_cpu_us_per_tx']:5.1f}  "
          f"redis {d['redis_cpu_us_per_tx']:5.1f}  total {d['total_us_per_tx']:5.1f} µs/tx")
