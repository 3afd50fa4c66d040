"""One line per worker_bench JSON in a folder: python table.py [DIR] (default: this script's
folder; also serves ../fanin-probe-2026-12-05)."""
import json
import pathlib
import sys

folder = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent
for path in sorted(folder.glob("*.json")):
    d = json.loads(path.read_text())
    print(f"{path.stem:16} {d['tx_per_s']:>7,} tx/s  worker {d['worker_cpu_us_per_tx']:5.1f}  "
          f"redis {d['redis_cpu_us_per_tx']:5.1f}  total {d['total_us_per_tx']:5.1f} µs/tx")
