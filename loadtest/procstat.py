"""CPU seconds of processes and process trees, from /proc, for the benchmarks' budgets.

A server's CPU includes its threads (Kafka's JVM), its live children (PostgreSQL's backends)
and the children it has already reaped (a backend that exited during the run): stat(5) fields
14-17 (utime, stime, cutime, cstime) of the root plus fields 14-15 of each live descendant.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int, tid: int | None = None) -> list[str] | None:
    """stat(5) of a process, or with `tid` of that one thread: /proc/<tid>/stat would give the
    whole process's figures (the kernel serves a thread id there as its thread group)."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        stat = Path(path).read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'


def proc_cpu_s(pid: int | None, tid: int | None = None) -> float | None:
    """utime + stime of a process, all threads, or with `tid` of that thread alone (None if
    unknown or gone)."""
    fields = _stat_fields(pid, tid) if pid is not None else None
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # fields 14, 15 of stat(5)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu_s(pid: int | None) -> float | None:
    """A process, its reaped children and its live descendants (None if the root is gone)."""
    fields = _stat_fields(pid) if pid is not None else None
    if pid is None or fields is None:
        return None
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS_PER_S
    stack = _children(pid)
    while stack:
        child = stack.pop()
        total += proc_cpu_s(child) or 0.0
        stack.extend(_children(child))
    return total


def threads_cpu_s(pid: int, name_prefixes: tuple[str, ...]) -> float:
    """utime + stime of a process's threads whose name (comm) starts with one of the prefixes:
    e.g. a JVM's JIT compiler threads ("C1 CompilerThre", "C2 CompilerThre")."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            named = (task / "comm").read_text().startswith(name_prefixes)
        except OSError:  # the thread ended meanwhile
            continue
        if named:
            total += proc_cpu_s(pid, int(task.name)) or 0.0
    return total


def pid_from_file(name: str) -> int | None:
    """A local-stack server's pid (deploy/local/stack.sh writes .local/run/<name>.pid)."""
    path = (REPO / ".local/postgres/data/postmaster.pid" if name == "postgres"
            else REPO / ".local" / "run" / f"{name}.pid")
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def postgres_cpu_s() -> float:
    return tree_cpu_s(pid_from_file("postgres")) or 0.0


#: The local stack's servers, by the name the benchmarks report them under.
STACK_SERVERS = ("kafka", "postgres", "redis", "redis-notify")
#: Its helpers that run where the machine allows (deploy/local/rewrite_idle.py: Redis's rewrite
#: children on idle CPU): metered when running, so what they cost is counted too.
STACK_HELPERS = ("redis-rewrite-idle",)


def stack_pids() -> dict[str, int]:
    found = {name: pid_from_file(name) for name in STACK_SERVERS}
    missing = [name for name, pid in found.items() if pid is None or proc_cpu_s(pid) is None]
    if missing:
        raise RuntimeError(f"local stack not running ({', '.join(missing)}): run `make up`")
    helpers = {name: pid_from_file(name) for name in STACK_HELPERS}
    return {name: pid for name, pid in {**found, **helpers}.items()
            if pid is not None and proc_cpu_s(pid) is not None}


class CpuMeter:
    """CPU seconds of named process trees between `start()` and `stop()`.

    A process that exits between the two keeps its last reading; one started after `start()`
    counts from zero (`add`); one measured some other way is `record`ed (a child's rusage).
    """

    def __init__(self, pids: Mapping[str, int],
                 reader: Callable[[int | None], float | None] = tree_cpu_s,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000) -> None:
        self._pids = dict(pids)
        self._read = reader
        self._clock_ms = clock_ms
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        #: Every sample, across start()s: (wall time ms, CPU seconds so far by name), for a
        #: timeline of who was busy when (a rewrite, a checkpoint, a burst of one process).
        self.samples: list[tuple[float, dict[str, float]]] = []

    def add(self, name: str, pid: int) -> None:
        self._pids[name] = pid
        self._first[name] = 0.0

    def record(self, name: str, seconds: float) -> None:
        self._first[name], self._last[name] = 0.0, seconds

    def sample(self) -> None:
        readings = {}
        for name, pid in self._pids.items():
            value = self._read(pid)
            if value is not None:
                self._first.setdefault(name, value)
                self._last[name] = readings[name] = value
        self.samples.append((self._clock_ms(), readings))

    def start(self) -> None:
        self._first.clear()
        self._last.clear()
        self.sample()

    def seconds(self) -> dict[str, float]:
        return {name: self._last[name] - self._first[name] for name in self._first}
