"""usage: wbtable.py DIR [COMMAND...]: one line per worker_bench JSON in DIR (wb-*.json): rate, the
worker's and its Redis's CPU per transaction, and Redis's COMMANDs (µs per transaction,
commandstats; by default those of the fan-in count and the scripts)."""
import json
import sys
from pathlib import Path

NAMES = sys.argv[2:] or ["zcount", "zcard", "evalsha", "exec"]
for path in sorted(Path(sys.argv[1]).glob("wb-*.json"), key=lambda p: (p.stem.split("-")[-1], p.stem)):
    try:
        d = json.loads(path.read_text())
    except ValueError:
        print(f"{path.stem:12} (no result)")
        continue
    cmds = d.get("redis_commands_per_tx", {})
    us = {name: cmds.get(name, {}).get("us", 0.0) for name in NAMES}
    print(f"{path.stem:12} {d['tx_per_s']:>7,} tx/s  worker {d['worker_cpu_us_per_tx']:5.1f}  "
          f"redis {d['redis_cpu_us_per_tx']:5.1f}  total {d['total_us_per_tx']:5.1f} µs/tx | "
          + "  ".join(f"{k} {v:5.2f}" for k, v in us.items()))
