"""The local stack's PostgreSQL: its own cluster (initdb with checksums), TLS with the stack's
certificate, run as the `postgres` OS user when the stack runs as root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from hashlib import sha256
from pathlib import Path

from stack_base import (
    HERE,
    HOST,
    Config,
    Server,
    StackError,
    cmdline,
    cwd_of,
    is_root,
    live_pids,
    log_tail,
    pid_alive,
    read_pid,
    rotate_log,
    run_logged,
    say,
    wait_until,
    warn,
)
from stack_servers import paystream_access, tls_ensure


class Postgres(Server):
    name = "postgres"
    os_user = "postgres"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.home = config.state / "postgres"
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        socket_dir = self.home / "socket"
        if len(str(socket_dir)) + 16 > 107:  # unix socket paths are limited to 107 bytes
            socket_dir = Path(f"/tmp/paystream-pg-{sha256(str(config.state).encode()).hexdigest()[:12]}")
        self.socket_dir = socket_dir

    @property
    def port(self) -> int:
        return self.config.pg_port

    def pid(self) -> int | None:
        """The postmaster serving our data dir (data/postmaster.pid is the truth)."""
        pid = read_pid(self.data / "postmaster.pid")
        if pid is not None and "postgres" in cmdline(pid) and str(self.data) in cmdline(pid):
            return pid
        return None

    def adopt(self, pid: int) -> None:
        """The pid file in run/ is an informational copy."""
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        if read_pid(self.pidfile) != pid:
            self.pidfile.write_text(f"{pid}\n")

    def logs(self) -> list[Path]:
        return [self.log]

    def bin(self) -> Path:
        """The binaries the data dir was made with, else the newest installed."""
        version_file = self.data / "PG_VERSION"
        if version_file.exists():
            version = version_file.read_text().strip()
            found = Path(f"/usr/lib/postgresql/{version}/bin")
            if (found / "postgres").exists():
                return found
            raise StackError(f"postgres: {self.data} was made by PostgreSQL {version}, whose "
                             f"binaries ({found}) are missing. Install postgresql-{version}, or "
                             f"move {self.data} away to start afresh.")
        versions = sorted((p.parent.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                          key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)])
        if not versions:
            raise StackError("postgres: no /usr/lib/postgresql/<version>/bin/initdb; run "
                             "'deploy/local/stack.sh install'")
        return versions[-1] / "bin"

    def answers(self) -> bool:
        return subprocess.run([str(self.bin() / "pg_isready"), "-q", "-h", HOST, "-p",
                               str(self.port), "-U", "postgres", "-d", "postgres", "-t", "2"],
                              check=False).returncode == 0

    def wait_ready(self) -> None:
        if not wait_until(self.answers, self.config.wait_s, lambda: None):
            raise StackError(f"postgres: not accepting connections on {HOST}:{self.port} after "
                             f"{self.config.wait_s:.0f}s\n{log_tail(self.log)}")

    def begin(self) -> float | None:
        if self.pid() is None:
            self._clear_stale_lock()
        return super().begin()

    def _clear_stale_lock(self) -> None:
        """A postmaster.pid left by a killed server: removed once no process runs in the data
        dir (a killed postmaster's children exit within moments)."""
        lock = self.data / "postmaster.pid"
        if not lock.exists():
            return
        deadline = time.monotonic() + 15
        while others := [p for p in live_pids() if cwd_of(p) == str(self.data) and pid_alive(p)]:
            if time.monotonic() > deadline:
                raise StackError(f"postgres: {lock} names a pid that is not a running postmaster, "
                                 f"but processes {others} still run in {self.data}. Wait for "
                                 f"them to exit (or stop them), then run 'make up' again.")
            time.sleep(0.3)
        say(f"postgres: removing stale {lock}")
        lock.unlink()
        for leftover in self.socket_dir.glob(".s.PGSQL.*"):
            leftover.unlink()

    def _owned(self, *paths: Path) -> None:
        if is_root():
            for path in paths:
                shutil.chown(path, self.os_user)

    def _prepare(self) -> None:
        if is_root():
            try:
                import pwd

                pwd.getpwnam(self.os_user)
            except KeyError:
                raise StackError("postgres: running as root, but there is no 'postgres' OS user "
                                 "to run PostgreSQL as (the Debian 'postgresql' package makes "
                                 "it)") from None
        self.home.mkdir(parents=True, exist_ok=True)
        self._traversable()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._owned(self.home, self.socket_dir)
        self.home.chmod(0o700)
        self.socket_dir.chmod(0o700)
        if not self.log.exists():
            self.log.touch()
            self._owned(self.log)
        if not (self.data / "PG_VERSION").exists():
            if self.data.exists() and any(self.data.iterdir()):
                raise StackError(f"postgres: {self.data} exists and is not empty but holds no "
                                 f"cluster (no PG_VERSION). Move it away and run 'make up' again.")
            say(f"postgres: initdb {self.data}...")
            # Data checksums: this is a ledger, so detect silent corruption. Locale C.UTF-8 is
            # always present on Debian and orders text by code point; PostgreSQL 15 still
            # compares under it through the locale, so the id columns say COLLATE "C"
            # themselves (sinks/migrations/0012.ids-bytewise.sql).
            run_logged([str(self.bin() / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth-local=trust", "--auth-host=trust", "-E", "UTF8",
                        "--locale=C.UTF-8", "--data-checksums"],
                       self.home / "initdb.log", "postgres: initdb", cwd=self.home,
                       user=self.os_user)
        tls_ensure(self.config)
        # Our settings in paystream.conf (included once from postgresql.conf); TLS with the
        # stack's certificate (its key private to the server's user); who may connect how.
        for name, source in (("paystream.conf", HERE / "postgresql.conf"),
                             ("server.crt", self.config.tls_dir / "server.crt"),
                             ("server.key", self.config.tls_dir / "server.key"),
                             ("pg_hba.conf", HERE / "pg_hba.conf")):
            target = self.data / name
            if not target.exists() or target.read_bytes() != source.read_bytes():
                shutil.copyfile(source, target)
                target.chmod(0o600)
                self._owned(target)
        main_conf = self.data / "postgresql.conf"
        if "include_if_exists = 'paystream.conf'" not in main_conf.read_text():
            with main_conf.open("a") as conf:
                conf.write("\n# paystream local stack settings (deploy/local/postgresql.conf)\n"
                           "include_if_exists = 'paystream.conf'\n")

    def _traversable(self) -> None:
        """The postgres OS user must reach the data dir: search (x) permission on any ancestor
        it cannot traverse (x only: it still cannot list or read them)."""
        if not is_root():
            return
        for directory in [*reversed(self.config.state.parents), self.config.state]:
            if subprocess.run(["runuser", "-u", self.os_user, "--", "test", "-x", str(directory)],
                              check=False).returncode:
                if shutil.which("setfacl"):
                    subprocess.run(["setfacl", "-m", f"u:{self.os_user}:x", str(directory)],
                                   check=True)
                else:
                    directory.chmod(directory.stat().st_mode | 0o001)
                say(f"postgres: granted search permission on {directory} to '{self.os_user}'")

    def start(self) -> None:
        self._prepare()
        rotate_log(self.log)
        say("postgres: starting...")
        run_logged([str(self.bin() / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                    "-t", str(int(self.config.wait_s)), "-o",
                    f"-p {self.port} -k '{self.socket_dir}' -c listen_addresses={HOST}", "start"],
                   self.home / "pg_ctl.log", "postgres: pg_ctl start", cwd=self.home,
                   user=self.os_user)

    def _psql(self, url: str, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               url], input=sql, capture_output=True, text=True, check=False,
                              env={**os.environ, "PGCONNECT_TIMEOUT": "5"})

    def after_ready(self) -> None:
        """Role and database 'paystream' (idempotently), then the roles of least privilege.

        The local stack's paystream role may also CHECKPOINT (pg_checkpoint, PostgreSQL 15+):
        the bench settles the server before each phase and each floor measurement
        (loadtest/floor.py `settle`), so that none is charged what came before it."""
        made = self._psql(f"postgresql://postgres@{HOST}:{self.port}/postgres", """
SELECT 'CREATE ROLE paystream LOGIN CREATEDB'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'paystream') \\gexec
SELECT 'ALTER ROLE paystream LOGIN CREATEDB'
  FROM pg_roles WHERE rolname = 'paystream' AND NOT (rolcanlogin AND rolcreatedb) \\gexec
SELECT 'CREATE DATABASE paystream OWNER paystream'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'paystream') \\gexec
SELECT 'GRANT pg_checkpoint TO paystream' FROM pg_roles r
 WHERE r.rolname = 'pg_checkpoint' AND NOT EXISTS (
   SELECT 1 FROM pg_auth_members m JOIN pg_roles p ON p.oid = m.member
    WHERE m.roleid = r.oid AND p.rolname = 'paystream') \\gexec
""")
        if made.returncode:
            raise StackError(f"postgres: creating role/database 'paystream' failed: {made.stderr}")
        paystream_access(self.config, "postgres", "--passwords-dir",
                         str(self.config.secrets_dir / "postgres"), "--generate")
        url = self.config.environment()["DATABASE_URL"]
        if not wait_until(lambda: self._psql(url, "select 1").returncode == 0, self.config.wait_s,
                          lambda: None):
            raise StackError(f"postgres: 'select 1' as paystream failed on {url}")
        pid = self.pid()
        if pid is None:
            raise StackError(f"postgres: the server answers but {self.data}/postmaster.pid does "
                             f"not point at it")
        self.adopt(pid)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            say("postgres: not running" + (" (stale postmaster.pid; the next 'up' checks and "
                                           "removes it)" if (self.data / "postmaster.pid").exists()
                                           else ""))
        else:
            started = time.monotonic()
            say(f"postgres: stopping (pid {pid})...")
            try:
                run_logged([str(self.bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                            "-t", str(int(self.config.stop_s)), "stop"],
                           self.home / "pg_ctl.log", "postgres: fast shutdown", cwd=self.home,
                           user=self.os_user)
            except StackError:
                warn(f"postgres: fast shutdown did not finish in {self.config.stop_s:.0f}s; "
                     f"using immediate shutdown (crash recovery at next start)")
                run_logged([str(self.bin() / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                            "-w", "-t", "30", "stop"], self.home / "pg_ctl.log",
                           "postgres: immediate shutdown", cwd=self.home, user=self.os_user)
            say(f"postgres: stopped in {time.monotonic() - started:.1f}s")
        self.pidfile.unlink(missing_ok=True)
