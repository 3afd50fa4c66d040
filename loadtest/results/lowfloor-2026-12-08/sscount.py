"""Requests each client process sends the broker, per second: `ss` reads each loopback connection
to the broker's port twice, WINDOW_S apart, and the broker side's data segments received are
summed by the client process (one request is at least one segment; a large one may be more).

    python sscount.py OUT   (waits for "== fixed rate" in $CONSOLE, then 20 s, then reads)
"""

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict

PORT, WINDOW_S = 19092, 10.0


def snapshot() -> tuple[dict[int, int], dict[int, str]]:
    """Broker-side data_segs_in per client port, and each client port's process name."""
    out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True,
                         text=True).stdout
    segs, owner = {}, {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"\s*\S+\s+\S+\s+127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+)\s*(.*)", line)
        if not m:
            continue
        local, peer, rest = int(m[1]), int(m[2]), m[3]
        info = lines[i + 1] if i + 1 < len(lines) else ""
        if local == PORT:  # the broker's end: what it received from the peer
            d = re.search(r"data_segs_in:(\d+)", info)
            segs[peer] = int(d[1]) if d else 0
        elif peer == PORT:
            p = re.search(r'users:\(\("([^"]+)",pid=(\d+)', rest)
            if p:
                owner[local] = f"{p[1]}:{p[2]}"
    return segs, owner


def main() -> None:
    console = os.environ["CONSOLE"]
    while True:
        try:
            if "== fixed rate" in open(console).read():
                break
        except FileNotFoundError:
            pass
        time.sleep(0.5)
    time.sleep(20)
    a, owner = snapshot()
    time.sleep(WINDOW_S)
    b, owner2 = snapshot()
    owner.update(owner2)
    by = defaultdict(float)
    for port, n in b.items():
        by[owner.get(port, f"port:{port}")] += (n - a.get(port, 0)) / WINDOW_S
    pids = {}
    for name in by:
        pid = name.split(":")[1] if ":" in name else ""
        try:
            pids[name] = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")[:120]
        except OSError:
            pids[name] = ""
    json.dump({k: {"segments_per_s": round(v, 1), "cmd": pids[k]}
               for k, v in sorted(by.items(), key=lambda kv: -kv[1])}, open(sys.argv[1], "w"),
              indent=1)


if __name__ == "__main__":
    main()
