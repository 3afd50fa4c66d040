"""The local Redis servers' fork children (their AOF rewrites) run on idle CPU.

Everything in the local stack shares the machine's cores. An AOF rewrite's child takes about a
core-second; at Redis's own weight every process queues behind it, and the decisions' latency
peaks for the seconds it runs (0.85-1.4 s at 70% of the max rate, where the rest of the phase
stays under 0.3). In a cpu cgroup marked idle (`cpu.idle` 1) it runs on what the others leave
and takes longer (~3 s instead of ~1.5), and the peaks were 0.47-0.62 s
(loadtest/results/chunks-2026-12-06/idlefork). Nice cannot do that: each server runs in a session
of its own, so in an autogroup of its own, whose weight is the group's whatever its threads' nice
(loadtest/results/sinksnice-2026-12-06).

A server on a machine of its own needs none of this: leave it a core for its rewrites
(docs/operations.md). Here it needs root and the kernel's cpu controller (cgroup v1 or v2);
without them `run` says why and exits 0, and the stack runs as before.

    python deploy/local/rewrite_idle.py PIDFILE... [--every-s 0.05]

Polls each server's pid file and children every `--every-s` (a rewrite lasts seconds; a poll
costs ~50 µs), so a server restarted with a new pid is followed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("rewrite-idle")

#: The cpu cgroup the children are moved into, under the controller's root.
GROUP = "paystream-redis-rewrites"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def idle_group(root: Path = CGROUP_ROOT) -> tuple[Path | None, str]:
    """The idle cpu cgroup, made if missing; else None and why it cannot be."""
    if (root / "cgroup.controllers").exists():  # cgroup v2: the cpu controller must be enabled
        base = root
        try:
            if "cpu" not in (root / "cgroup.subtree_control").read_text().split():
                (root / "cgroup.subtree_control").write_text("+cpu")
        except OSError as exc:
            return None, f"cannot enable the cpu controller in {root}: {exc}"
    elif (root / "cpu" / "cpu.idle").exists():  # cgroup v1
        base = root / "cpu"
    else:
        return None, f"no cpu cgroup with cpu.idle under {root} (kernel 5.15 or later has it)"
    group = base / GROUP
    try:
        group.mkdir(exist_ok=True)
        (group / "cpu.idle").write_text("1")
    except OSError as exc:
        return None, f"cannot make the idle cpu cgroup {group} (needs root): {exc}"
    return group, ""


def children(pid: int) -> list[int]:
    """The processes `pid` forked and that still run (its main thread's children)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def move_children(group: Path, pidfiles: list[Path], moved: set[int]) -> list[int]:
    """Move every child of the servers not moved yet into `group`; return those moved now."""
    now = []
    for pidfile in pidfiles:
        server = read_pid(pidfile)
        if server is None:
            continue
        for child in children(server):
            if child in moved:
                continue
            try:
                (group / "cgroup.procs").write_text(str(child))
            except ProcessLookupError:  # it exited meanwhile: nothing to move
                pass
            except OSError as exc:
                log.warning("%s's child %d not moved into %s: %s", pidfile.stem, child, group, exc)
            else:
                log.info("moved %s's child %d (a rewrite) into %s", pidfile.stem, child, group)
                now.append(child)
            moved.add(child)
    return now


def run(pidfiles: list[Path], every_s: float) -> int:
    group, why = idle_group()
    if group is None:
        log.warning("rewrite children keep their server's priority: %s", why)
        return 0
    log.info("watching %s every %.2f s; rewrite children go to %s",
             ", ".join(str(p) for p in pidfiles), every_s, group)
    moved: set[int] = set()
    while True:
        move_children(group, pidfiles, moved)
        if len(moved) > 10_000:  # pids recycle; what was moved long ago is gone
            moved.clear()
        time.sleep(every_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the local Redis servers' AOF rewrite children on idle CPU.")
    parser.add_argument("pidfiles", nargs="+", type=Path, metavar="PIDFILE",
                        help="A Redis server's pid file (read again at every poll).")
    parser.add_argument("--every-s", type=float, default=0.05,
                        help="How often to look for new children (default: 0.05).")
    args = parser.parse_args(argv)
    if args.every_s <= 0:
        parser.error("--every-s must be more than 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return run(args.pidfiles, args.every_s)


if __name__ == "__main__":
    sys.exit(main())
