"""A local Redis Cluster of three masters, for running paystream's account state across nodes.

    python deploy/local/redis_cluster.py up --dir .local/redis-cluster --ports 17001,17002,17003
    python deploy/local/redis_cluster.py down --dir .local/redis-cluster

Each master is a redis-server in cluster mode on 127.0.0.1 with its own directory under --dir
(config, AOF, nodes.conf, log, pid file), joined with no replicas, each master holding an even share of the partitions' tags (slot_ranges):
this is for trying paystream in cluster mode (REDIS_CLUSTER=true, docs/operations.md "Sizing")
and for its end-to-end test, not a production layout (which has a replica per master and the
partitions' slots assigned by the operator: docs/design.md "Past one Redis"). `up` is
idempotent; `down` stops the masters it started, by their pid files.
"""

from __future__ import annotations

import argparse
import binascii
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

HOST = "127.0.0.1"
SLOTS = 16384

_CONF = """bind {host}
port {port}
protected-mode yes
daemonize yes
pidfile {dir}/redis.pid
logfile {dir}/redis.log
dir {dir}
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
# The account state's durability, as the single server's (deploy/local/redis.conf.in).
appendonly yes
appendfsync always
auto-aof-rewrite-percentage 400
rdbcompression no
save ""
maxmemory-policy noeviction
"""


class ClusterError(Exception):
    """The cluster could not be started or formed; the message says which node and why."""


def _cli(port: int, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _answers(port: int) -> bool:
    try:
        return _cli(port, "ping", timeout=3).stdout.strip() == "PONG"
    except subprocess.TimeoutExpired:
        return False


def _wait(what: str, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} not ready after {timeout_s:.0f} s")
        time.sleep(0.1)


def partition_slot(partition: int) -> int:
    """The hash slot of a partition's tag {p<N>} (agents/store.py): CRC16 (XMODEM) mod 16384."""
    return binascii.crc_hqx(f"p{partition}".encode(), 0) % SLOTS


def slot_ranges(masters: int, partitions: int) -> list[list[tuple[int, int]]]:
    """Each master's slots: an even share of the 16384, except that partition N's tag slot
    goes to master N mod `masters`, so the partitions (and their load) spread evenly. CRC16
    alone puts the 12 default tags 6/3/3 on three equal ranges."""
    owner = [min(slot * masters // SLOTS, masters - 1) for slot in range(SLOTS)]
    for partition in range(partitions):
        owner[partition_slot(partition)] = partition % masters
    ranges: list[list[tuple[int, int]]] = [[] for _ in range(masters)]
    start = 0
    for slot in range(1, SLOTS + 1):
        if slot == SLOTS or owner[slot] != owner[start]:
            ranges[owner[start]].append((start, slot - 1))
            start = slot
    return ranges


def up(directory: Path, ports: list[int], partitions: int) -> None:
    for port in ports:
        home = directory / str(port)
        home.mkdir(parents=True, exist_ok=True)
        if _answers(port):
            if not (home / "redis.pid").exists():
                raise ClusterError(f"port {port} is served by a Redis not started here (no pid "
                                   f"file in {home}): choose other --ports")
            continue
        (home / "redis.conf").write_text(_CONF.format(host=HOST, port=port, dir=home))
        done = subprocess.run(["redis-server", str(home / "redis.conf")], cwd=home,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise ClusterError(f"redis-server on port {port} failed: {done.stdout}{done.stderr}")
        _wait(f"redis-server on port {port}", partial(_answers, port), 10)
    # Masters restarted from their nodes.conf know each other already: they only need a moment.
    known = _cli(ports[0], "cluster", "info").stdout
    if f"cluster_known_nodes:{len(ports)}" not in known:
        for port, ranges in zip(ports, slot_ranges(len(ports), partitions), strict=True):
            done = _cli(port, "cluster", "addslotsrange", *(str(n) for r in ranges for n in r))
            if done.stdout.strip() != "OK":
                raise ClusterError(f"CLUSTER ADDSLOTSRANGE on {port}: {done.stdout}{done.stderr}")
        for port in ports[1:]:
            _cli(ports[0], "cluster", "meet", HOST, str(port))
    _wait("the cluster (cluster_state:ok on every master)",
          lambda: all("cluster_state:ok" in _cli(p, "cluster", "info").stdout for p in ports), 30)
    print(f"redis cluster up: {', '.join(f'{HOST}:{p}' for p in ports)} (state in {directory})")
    print(f"  REDIS_CLUSTER=true REDIS_URL=redis://{HOST}:{ports[0]}/0")


def down(directory: Path) -> None:
    for pidfile in sorted(directory.glob("*/redis.pid")):
        pid = int(pidfile.read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        print(f"stopped redis-server {pid} ({pidfile.parent.name})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", type=Path, default=Path(".local/redis-cluster"),
                        help="where each master keeps its files (default: .local/redis-cluster)")
    parser.add_argument("--ports", default="17001,17002,17003",
                        help="the masters' ports, comma-separated (default: 17001,17002,17003)")
    parser.add_argument("--partitions", type=int, default=12,
                        help="the topics' partitions, spread evenly over the masters by their "
                             "tags' slots (default: 12, paystream's default)")
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    try:
        if args.command == "up":
            ports = [int(p) for p in args.ports.split(",")]
            if len(ports) < 3:
                parser.error("a Redis Cluster needs at least three masters")
            up(directory, ports, args.partitions)
        else:
            down(directory)
    except ClusterError as exc:
        print(f"redis_cluster: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
