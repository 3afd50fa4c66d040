"""While FLAG holds "1", move each child the account-state Redis forks (its AOF rewrite) into a
cpu cgroup marked idle (cgroup v1 cpu.idle = 1): it then runs on what the other processes leave.
Nice inside Redis's own autogroup could not do that (sinksnice-2026-12-06 x3): the autogroup's
weight is the group's, whatever its threads' nice. Polls every 10 ms; logs each move.
usage: forkidle.py FLAG LOG"""
import os
import sys
import time
from pathlib import Path

flag, log = Path(sys.argv[1]), open(sys.argv[2], "a", buffering=1)
group = Path("/sys/fs/cgroup/cpu/psrewrite")
group.mkdir(exist_ok=True)
(group / "cpu.idle").write_text("1")
pid = int(Path("/work/main/.local/run/redis.pid").read_text())
children = Path(f"/proc/{pid}/task/{pid}/children")
moved: set[int] = set()
while True:
    if flag.exists() and flag.read_text().strip() == "1":
        for child in children.read_text().split():
            if int(child) not in moved:
                try:
                    (group / "cgroup.procs").write_text(child)
                    moved.add(int(child))
                    log.write(f"moved {child} {time.time():.3f}\n")
                except OSError as exc:
                    log.write(f"failed {child} {exc!r}\n")
    time.sleep(0.01)
