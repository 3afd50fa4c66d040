"""Starting paystream's own commands as child processes: for the benchmarks and the tests.

One place says how a child is started (this interpreter's `-m paystream`), what it is told (the
parent's environment, then its settings, `Settings.to_env`, then a few variables of its own) and
how it is stopped (by pid: SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from streams.errors import PaystreamError
from streams.settings import Settings

#: This interpreter running the CLI: the child sees the same packages as the parent.
PAYSTREAM = (sys.executable, "-m", "paystream")


class ProcessExitedError(PaystreamError):
    """A process that should still be running has ended."""


#: Where the kernel picks the local port of an outgoing connection (Linux's default range when
#: the file cannot be read).
EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Above the local stack's ports (15432, 16379, 16380, 19092).
LOWEST_FREE_PORT = 20000
_handed_out: set[int] = set()


def free_port(also_free_at: int = 0) -> int:
    """A port on 127.0.0.1 for a child server to listen on: free now and below the kernel's
    ephemeral range, so no outgoing connection can take it before the child binds it. (A port
    from bind(0) is an ephemeral one: in CI a worker's connection once took the API's port
    between the test's probe and the API's bind.) `also_free_at`: an offset whose port must be
    free as well (a Redis Cluster node's bus, port + 10000). No port is handed out twice by one
    process."""
    try:
        ephemeral_low = int(EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    candidates = [port for port in range(LOWEST_FREE_PORT, ephemeral_low - also_free_at)
                  if port not in _handed_out]
    random.shuffle(candidates)  # two test processes at once seldom try the same ports
    for port in candidates:
        if all(_bindable(port + offset) for offset in {0, also_free_at}):
            _handed_out.add(port)
            return port
    raise PaystreamError(f"no free port in {LOWEST_FREE_PORT}-{ephemeral_low - also_free_at - 1} "
                         f"(the ephemeral range starts at {ephemeral_low})")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def command(*args: str) -> list[str]:
    return [*PAYSTREAM, *args]


def environment(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child: ours, with `settings` (all of them) and `extra` on top."""
    return {**os.environ, **(settings.to_env() if settings is not None else {}), **extra}


def run(settings: Settings | None, *args: str, extra_env: dict[str, str] | None = None,
        check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
    """`paystream <args>` to its end, output captured as text unless `kwargs` say otherwise;
    by default the caller reads the return code and says what failed."""
    options: dict[str, Any] = {"capture_output": True, "text": True, **kwargs}
    return subprocess.run(command(*args), env=environment(settings, **(extra_env or {})),
                          check=check, **options)


def stop(proc: subprocess.Popen, grace_s: float = 60.0, name: str = "") -> int | None:
    """SIGTERM, and SIGKILL if it is still there after `grace_s`; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        print(f"  {name or proc.args!r} (pid {proc.pid}) ignored SIGTERM for {grace_s:.0f} s: "
              f"SIGKILL", file=sys.stderr, flush=True)
        proc.kill()
        return proc.wait()


class ProcessGroup:
    """Named paystream processes, each logging to `<logs>/<name>.log`, stopped together.

    Each in a session of its own, as the local stack's servers are (deploy/local/stack_base.py)
    and as one container per process would be: where the kernel schedules by session
    (autogroup: /proc/sys/kernel/sched_autogroup_enabled is 1 on the bench machines), all of them
    in the caller's session shared one scheduling group's CPU while each server had a group of
    its own. They are stopped by pid (`stop`), never through their process group.
    """

    def __init__(self, env: dict[str, str], logs: Path, cwd: Path | None = None) -> None:
        self.env = env
        self.logs = logs
        self.cwd = cwd
        self.running: dict[str, subprocess.Popen] = {}
        self._files: list[IO[str]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        self._files.append(log)
        proc = subprocess.Popen(command(*args), env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=self.cwd, start_new_session=True)
        self.running[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                raise ProcessExitedError(f"{name} exited with status {proc.returncode}; "
                                         f"see {self.logs / (name + '.log')}")

    def stop(self, grace_s: float = 60.0) -> None:
        for proc in self.running.values():  # all told first: they stop side by side
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.running.items():
            stop(proc, grace_s, name)
        for log in self._files:
            log.close()
