"""The local stack's groundwork: its configuration (ports from paystream's settings), finding
and stopping processes by pid, and what every server of the stack has in common (`Server`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOST = "127.0.0.1"


class StackError(Exception):
    """Something the operator must fix; the message says what."""


def say(text: str) -> None:
    print(text, flush=True)


def warn(text: str) -> None:
    print(f"stack: warning: {text}", file=sys.stderr, flush=True)


# --- configuration --------------------------------------------------------------------------


def _default_port(field: str) -> int:
    """The port in the default of one of paystream's connection settings."""
    from streams.settings import Settings

    default = str(Settings.model_fields[field].default)
    netloc = default if "://" not in default else urlsplit(default).netloc
    return int(netloc.rsplit(":", 1)[1].split("/")[0])


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise StackError(f"{name} must be a port number 1-65535, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Config:
    state: Path
    python: str
    kafka_port: int
    controller_port: int
    sasl_port: int
    pg_port: int
    redis_port: int
    notify_redis_port: int
    redis_tls_port: int
    notify_redis_tls_port: int
    prometheus_port: int
    wait_s: float
    stop_s: float
    kafka_heap_opts: str

    @classmethod
    def from_environment(cls) -> Config:
        env = os.environ
        return cls(
            state=Path(env.get("PAYSTREAM_STATE_DIR", REPO / ".local")).resolve(),
            python=env.get("PYTHON", str(REPO / ".venv" / "bin" / "python")),
            kafka_port=_port("PAYSTREAM_KAFKA_PORT", _default_port("kafka_bootstrap_servers")),
            controller_port=_port("PAYSTREAM_KAFKA_CONTROLLER_PORT", 19093),
            sasl_port=_port("PAYSTREAM_KAFKA_SASL_PORT", 19094),
            pg_port=_port("PAYSTREAM_PG_PORT", _default_port("database_url")),
            redis_port=_port("PAYSTREAM_REDIS_PORT", _default_port("redis_url")),
            notify_redis_port=_port("PAYSTREAM_NOTIFY_REDIS_PORT",
                                    _default_port("notify_redis_url")),
            redis_tls_port=_port("PAYSTREAM_REDIS_TLS_PORT", 16389),
            notify_redis_tls_port=_port("PAYSTREAM_NOTIFY_REDIS_TLS_PORT", 16390),
            prometheus_port=_port("PAYSTREAM_PROMETHEUS_PORT", 19090),
            wait_s=float(env.get("PAYSTREAM_WAIT_SECS", "90")),
            stop_s=float(env.get("PAYSTREAM_STOP_SECS", "30")),
            kafka_heap_opts=env.get("PAYSTREAM_KAFKA_HEAP_OPTS", "-Xms512m -Xmx1g"))

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def tls_dir(self) -> Path:
        return self.state / "tls"

    @property
    def secrets_dir(self) -> Path:
        return self.state / "secrets"

    def environment(self) -> dict[str, str]:
        """What paystream's processes need to find this stack (`stack.sh env`)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{self.kafka_port}",
            "DATABASE_URL": f"postgresql://paystream@{HOST}:{self.pg_port}/paystream",
            "REDIS_URL": f"redis://{HOST}:{self.redis_port}/0",
            "NOTIFY_REDIS_URL": f"redis://{HOST}:{self.notify_redis_port}/0",
            "PROMETHEUS_URL": f"http://{HOST}:{self.prometheus_port}",
            "PAYSTREAM_METRICS_TARGETS_DIR": str(self.state / "prometheus" / "targets"),
        }


# --- processes --------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """The pid exists and is not a zombie (PID 1 here may reap exited processes late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    """A live process's command line, NULs as spaces ("" if gone)."""
    if not pid_alive(pid):
        return ""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cwd_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def live_pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def is_root() -> bool:
    return os.geteuid() == 0


def stop_pid(name: str, pid: int, grace_s: float) -> None:
    """SIGTERM, up to `grace_s` to go, then SIGKILL."""
    started = time.monotonic()
    say(f"{name}: stopping (pid {pid})...")
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, grace_s):
        warn(f"{name}: still alive after {grace_s:.0f}s, sending SIGKILL to pid {pid}")
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10):
            raise StackError(f"{name}: pid {pid} survived SIGKILL; look at it with 'ps -fp {pid}'")
    say(f"{name}: stopped in {time.monotonic() - started:.1f}s")


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait_until(ready: Callable[[], bool], timeout_s: float, failed: Callable[[], str | None],
               every_s: float = 0.3) -> bool:
    """Poll `ready` until true or `timeout_s`; `failed` says why to give up early (or None)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        problem = failed()
        if problem is not None:
            raise StackError(problem)
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True


def log_tail(*paths: Path, lines: int = 40) -> str:
    parts = []
    for path in paths:
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        if text:
            parts.append(f"----- last lines of {path} -----\n" + "\n".join(text))
    return "\n".join(parts)


def render(template: Path, out: Path, values: dict[str, str], mode: int = 0o644) -> None:
    """The template with @KEY@ replaced; written only when it changed."""
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    text = text.rstrip("\n") + "\n"
    if not out.exists() or out.read_text() != text:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(out)


def rotate_log(path: Path) -> None:
    """Keep one old copy of a log over ~50 MB."""
    if path.exists() and path.stat().st_size > 52_428_800:
        path.replace(path.with_name(path.name + ".1"))


def launch(argv: list[str], pidfile: Path, log: IO[bytes], cwd: Path) -> None:
    """Start a server in a session of its own (immune to the caller's SIGHUP and Ctrl-C) and
    write its pid file."""
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    pidfile.write_text(f"{proc.pid}\n")


def run_logged(argv: list[str], log: Path, what: str, cwd: Path | None = None,
               user: str | None = None) -> None:
    if user is not None and is_root():
        argv = ["runuser", "-u", user, "--", *argv]
    with log.open("wb") as out:
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise StackError(f"{what} failed (log: {log})\n{log_tail(log)}")


# --- servers ----------------------------------------------------------------------------------


class Server:
    """One server of the stack: how to find it running, start it, know it is ready, stop it."""

    name = ""

    def __init__(self, config: Config) -> None:
        self.config = config

    @property
    def pidfile(self) -> Path:
        return self.config.run_dir / f"{self.name}.pid"

    @property
    def port(self) -> int:
        raise NotImplementedError

    def is_ours(self, pid: int) -> bool:
        raise NotImplementedError

    def pidfile_alive(self) -> bool:
        """The pid file names a live process: unlike `pid()`, true only once the file is written."""
        pid = read_pid(self.pidfile)
        return pid is not None and pid_alive(pid)

    def pid(self) -> int | None:
        """Our running server's pid: the pid file's, else found by its command line."""
        pid = read_pid(self.pidfile)
        if pid is not None and self.is_ours(pid):
            return pid
        return self.search()

    def search(self) -> int | None:
        return None

    def adopt(self, pid: int) -> None:
        if read_pid(self.pidfile) != pid:
            say(f"{self.name}: found our running server (pid {pid}) with a missing/stale pid "
                f"file; pid file rewritten")
            self.pidfile.write_text(f"{pid}\n")

    def answers(self) -> bool:
        raise NotImplementedError

    def logs(self) -> list[Path]:
        return []

    def up(self) -> None:
        """Start if not running, then wait until it answers."""
        self.finish(self.begin())

    def begin(self) -> float | None:
        """Start it unless it runs (then its pid is adopted); when it was started, the time.
        `finish` waits for it: servers begun together boot side by side."""
        pid = self.pid()
        if pid is not None:
            self.adopt(pid)
            return None
        started_at = time.monotonic()
        if self.pidfile.exists():
            say(f"{self.name}: removing stale pid file {self.pidfile}")
            self.pidfile.unlink()
        for port in self.ports():
            if port_open(port):
                raise StackError(f"{self.name}: port {HOST}:{port} is already in use by another "
                                 f"process (not started by this stack). Stop it (see 'ss -ltnp | "
                                 f"grep :{port}') or move the stack's port (deploy/local/README.md).")
        self.start()
        return started_at

    def finish(self, started_at: float | None) -> None:
        """Wait until it answers, give it its users and rights, and say so."""
        self.wait_ready()
        self.after_ready()
        if started_at is None:
            say(f"{self.name}: already running at {HOST}:{self.port} (pid {self.pid()})")
        else:
            say(f"{self.name}: ready at {HOST}:{self.port} (pid {self.pid()}) in "
                f"{time.monotonic() - started_at:.1f}s")

    def ports(self) -> list[int]:
        return [self.port]

    def start(self) -> None:
        raise NotImplementedError

    def after_ready(self) -> None:
        """Users, roles and rights, once it answers (idempotent)."""

    def wait_ready(self) -> None:
        def gone() -> str | None:
            # By the pid file's process being alive, not `pid()`: a just-started server is
            # alive before everything `is_ours` looks at is there to see.
            if not self.pidfile_alive():
                return (f"{self.name}: the server exited during startup. Fix the cause below and "
                        f"run 'make up' again.\n{log_tail(*self.logs())}")
            return None

        if not wait_until(self.answers, self.config.wait_s, gone):
            raise StackError(f"{self.name}: pid {self.pid()} did not answer on {HOST}:{self.port} "
                             f"within {self.config.wait_s:.0f}s; it is left running ('make down' "
                             f"stops it).\n{log_tail(*self.logs())}")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(self.name, pid, self.config.stop_s)
        else:
            say(f"{self.name}: not running" + (" (removing stale pid file)"
                                              if self.pidfile.exists() else ""))
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> bool:
        pid = self.pid()
        if pid is None:
            say(f"{self.name}: stopped")
            return False
        note = "" if port_open(self.port) else " (port not answering yet)"
        say(f"{self.name}: running (pid {pid}) at {HOST}:{self.port}{note}")
        return True
