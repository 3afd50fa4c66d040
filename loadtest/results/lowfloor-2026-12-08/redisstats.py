"""Redis's CPU (utime + stime from /proc) and its commands' time per transaction in each phase,
from run.sh's NAME.redis-{max,fixed}.txt (cumulative stats at the phase's start and end).

    python redisstats.py DIR NAME...
"""

import json
import re
import sys
from pathlib import Path

TICK_US = 10_000  # /proc's clock ticks (100 Hz)
SHOWN = ("paystream.commit", "exec", "mget", "exists", "hset", "zadd", "del")


def snapshots(path: Path) -> list[dict]:
    out, cur = [], None
    for line in path.read_text().splitlines():
        if line.startswith("utime"):
            u, s = map(int, re.findall(r"\d+", line))
            cur = {"_cpu_us": (u + s) * TICK_US}
            out.append(cur)
        m = re.match(r"cmdstat_(\S+):calls=(\d+),usec=(\d+)", line)
        if m and cur is not None:
            cur[m[1]] = int(m[3])
    return out


def main() -> None:
    folder = Path(sys.argv[1])
    for name in sys.argv[2:]:
        result = json.loads((folder / f"{name}.json").read_text())
        row = [name]
        for phase, key in (("max", "max_rate"), ("fixed", "fixed_rate")):
            a, b = snapshots(folder / f"{name}.redis-{phase}.txt")[:2]
            n = result["phases"][key]["transactions"]
            cpu = (b["_cpu_us"] - a["_cpu_us"]) / n
            cmds = " ".join(f"{c} {(b.get(c, 0) - a.get(c, 0)) / n:.2f}" for c in SHOWN)
            row.append(f"{phase}: cpu {cpu:.1f} us/tx | {cmds}")
        print(" || ".join(row))


if __name__ == "__main__":
    main()
