"""One line per worker_bench JSON in DIR (wb-*.json): the worker's and its Redis's CPU per
transaction and Redis's sorted-set commands (µs per transaction, commandstats)."""
import json
import sys
from pathlib import Path

NAMES = ("zadd", "zmscore", "zcount", "zcard", "zremrangebyrank", "evalsha", "exec")
for path in sorted(Path(sys.argv[1]).glob("wb-*.json"), key=lambda p: (p.stem.split("-")[-1], p.stem)):
    try:
        d = json.loads(path.read_text())
    except ValueError:
        print(f"{path.stem:12} (no result)")
        continue
    cmds = d.get("redis_commands_per_tx", {})
    print(f"{path.stem:12} worker {d['worker_cpu_us_per_tx']:5.1f}  redis {d['redis_cpu_us_per_tx']:5.1f}"
          f"  total {d['total_us_per_tx']:5.1f} µs/tx | "
          + "  ".join(f"{n} {cmds.get(n, {}).get('us', 0.0):5.2f}" for n in NAMES))
