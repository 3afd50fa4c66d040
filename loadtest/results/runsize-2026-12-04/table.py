"""Prints one line per worker_bench JSON given: worker, Redis and total µs/tx, tx/s."""
import json
import sys

for path in sys.argv[1:]:
    d = json.load(open(path))
    print(f"{path:28} worker {d['worker_cpu_us_per_tx']:5.1f}  redis {d['redis_cpu_us_per_tx']:5.1f}"
          f"  total {d['total_us_per_tx']:5.1f}  {d['tx_per_s']:,} tx/s  {d['transactions']:,} tx")
