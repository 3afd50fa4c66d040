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

    python deploy/local/rewrite_idle.py PIDFILE... [--every-s 0.1]

It hears of every fork from the kernel's process events (the netlink proc connector), so it
costs nothing between them, and reads the pid files then, so a server restarted with a new pid
is followed. Where those events are not delivered (outside the first network namespace) it
polls every `--every-s` instead: polling every 50 ms cost ~0.4 µs per transaction in a bench run
(loadtest/results/chunks-2026-12-06/n1.md), a rewrite lasts seconds.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from stack_base import read_pid  # this folder's: the stack's own reading of a pid file

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


def move(group: Path, child: int, server: str) -> bool:
    """Move one process into `group`; False if it was gone already."""
    try:
        (group / "cgroup.procs").write_text(str(child))
    except ProcessLookupError:  # it exited meanwhile: nothing to move
        return False
    except OSError as exc:
        log.warning("%s's child %d not moved into %s: %s", server, child, group, exc)
        return False
    log.info("moved %s's child %d (a rewrite) into %s", server, child, group)
    return True


def move_children(group: Path, pidfiles: list[Path], moved: set[int]) -> list[int]:
    """Move every child of the servers not moved yet into `group`; return those moved now.
    `moved` keeps only children still running: a pid used again later is a new child."""
    now: list[int] = []
    running: set[int] = set()
    for pidfile in pidfiles:
        server = read_pid(pidfile)
        if server is None:
            continue
        for child in children(server):
            running.add(child)
            if child not in moved and move(group, child, pidfile.stem):
                now.append(child)
            moved.add(child)
    moved &= running
    return now


# The netlink proc connector (linux/connector.h, linux/cn_proc.h).
NETLINK_CONNECTOR, CN_IDX_PROC, CN_VAL_PROC = 11, 1, 1
PROC_CN_MCAST_LISTEN, PROC_EVENT_FORK, NLMSG_DONE = 1, 1, 3
#: nlmsghdr (16 bytes) and cn_msg (20) before the proc_event: what, cpu, timestamp (16), then
#: a fork's parent pid, parent tgid, child pid, child tgid.
_EVENT_AT, _FORK_AT = 36, 52


def parse_fork(data: bytes) -> tuple[int, int] | None:
    """(parent tgid, child pid) of a netlink proc event that is a new process; None for any
    other event, a new thread among them."""
    if len(data) < _FORK_AT + 16 or struct.unpack_from("=I", data, _EVENT_AT)[0] != PROC_EVENT_FORK:
        return None
    _, parent, child, child_tgid = struct.unpack_from("=IIII", data, _FORK_AT)
    return (parent, child) if child == child_tgid else None


def process_forks() -> Iterator[tuple[int, int] | None]:
    """From the kernel's process events: (parent, child) of each new process; None where events
    were lost (the socket's buffer overran), so the caller looks itself. Raises OSError at once
    where the events cannot be had."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
    sock.bind((os.getpid(), CN_IDX_PROC))
    listen = struct.pack("=I", PROC_CN_MCAST_LISTEN)
    message = struct.pack("=IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(listen), 0) + listen
    sock.send(struct.pack("=IHHII", 16 + len(message), NLMSG_DONE, 0, 0, os.getpid()) + message)

    def events() -> Iterator[tuple[int, int] | None]:
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    yield None
                    continue
                fork = parse_fork(data)
                if fork is not None:
                    yield fork

    return events()


def run(pidfiles: list[Path], every_s: float) -> int:
    group, why = idle_group()
    if group is None:
        log.warning("rewrite children keep their server's priority: %s", why)
        return 0
    servers = ", ".join(str(p) for p in pidfiles)
    moved: set[int] = set()
    try:
        forks = process_forks()
    except OSError as exc:
        log.info("no process events (%s): polling %s every %.2f s; rewrite children go to %s",
                 exc, servers, every_s, group)
        while True:
            move_children(group, pidfiles, moved)
            time.sleep(every_s)
    log.info("on process events: the children of %s go to %s", servers, group)
    move_children(group, pidfiles, moved)  # a rewrite under way already
    for fork in forks:
        if fork is None:
            move_children(group, pidfiles, moved)
            continue
        parent, child = fork
        for pidfile in pidfiles:  # read at each fork: a restarted server has a new pid
            if read_pid(pidfile) == parent:
                move(group, child, pidfile.stem)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the local Redis servers' AOF rewrite children on idle CPU.")
    parser.add_argument("pidfiles", nargs="+", type=Path, metavar="PIDFILE",
                        help="A Redis server's pid file (read again at each fork or poll).")
    parser.add_argument("--every-s", type=float, default=0.1,
                        help="How often to look for new children where the kernel's process "
                             "events cannot be had (default: 0.1).")
    args = parser.parse_args(argv)
    if args.every_s <= 0:
        parser.error("--every-s must be more than 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return run(args.pidfiles, args.every_s)


if __name__ == "__main__":
    sys.exit(main())
