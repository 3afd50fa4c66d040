"""The local stack's Kafka, Redis and Prometheus (PostgreSQL: stack_postgres.py), and the
certificate and credentials they share."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stack_base import (
    HERE,
    HOST,
    Config,
    Server,
    StackError,
    cmdline,
    cwd_of,
    launch,
    live_pids,
    log_tail,
    port_open,
    read_pid,
    render,
    rotate_log,
    run_logged,
    say,
    stop_pid,
    wait_until,
)


def paystream_access(config: Config, *args: str) -> None:
    """`paystream access ...` as the stack's admin, with the stack's plaintext endpoints."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{config.kafka_port}",
           "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "PAYSTREAM_TOPIC_PREFIX": "",
           "PAYSTREAM_DB_SCHEMA": "paystream",
           "DATABASE_URL": f"postgresql://postgres@{HOST}:{config.pg_port}/paystream"}
    done = subprocess.run([config.python, "-m", "paystream", "--log-level", "warning", "access",
                           *args], env=env, check=False)
    if done.returncode:
        raise StackError(f"paystream access {args[0]} failed (above)")


def tls_ensure(config: Config) -> None:
    """The stack's CA and one server certificate for 127.0.0.1/localhost (every server presents
    it), made once with openssl; Kafka reads it from a PKCS12 keystore."""
    tls, secrets = config.tls_dir, config.secrets_dir
    if all(p.exists() and p.stat().st_size for p in (tls / "kafka.p12", secrets / "kafka-keystore")):
        return
    say(f"tls: making the stack's CA and server certificate in {tls}...")
    tls.mkdir(parents=True, exist_ok=True)
    secrets.mkdir(parents=True, exist_ok=True)
    secrets.chmod(0o700)
    keystore = secrets / "kafka-keystore"
    script = f"""set -e; umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=paystream local CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.crt
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
printf '%s\\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
  "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
  -extfile server.ext -out server.crt
openssl rand -hex 24 >"{keystore}"
openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca.crt -name kafka \
  -passout "file:{keystore}" -out kafka.p12
chmod 644 ca.crt server.crt
"""
    run_logged(["bash", "-c", script], tls / "openssl.log", "tls: making certificates", cwd=tls)


def find_java() -> str:
    """A Java >= 17 (JAVA_HOME's first)."""
    candidates = [f"{os.environ['JAVA_HOME']}/bin/java"] if os.environ.get("JAVA_HOME") else []
    for major in ("17", "21"):
        candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob(f"java-{major}-openjdk-*/bin/java"))
    candidates.append(shutil.which("java") or "")
    for candidate in filter(None, candidates):
        if not os.access(candidate, os.X_OK):
            continue
        shown = subprocess.run([candidate, "-version"], capture_output=True, text=True,
                               check=False).stderr
        found = re.search(r'version "(\d+)', shown)
        if found and int(found.group(1)) >= 17:
            return candidate
    raise StackError("java: no Java >= 17 found; run 'deploy/local/stack.sh install' or set "
                     "JAVA_HOME")


class Kafka(Server):
    name = "kafka"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.home = config.state / "kafka"
        self.props = self.home / "server.properties"
        self.logs_dir = self.home / "logs"
        self.data = self.home / "data"

    @property
    def port(self) -> int:
        return self.config.kafka_port

    def ports(self) -> list[int]:
        return [self.config.kafka_port, self.config.controller_port, self.config.sasl_port]

    def is_ours(self, pid: int) -> bool:
        line = cmdline(pid)
        return "kafka.Kafka" in line and str(self.props) in line

    def search(self) -> int | None:
        needle = str(self.props).encode()
        for pid in live_pids():
            try:
                if needle in Path(f"/proc/{pid}/cmdline").read_bytes() and self.is_ours(pid):
                    return pid
            except OSError:
                continue
        return None

    def logs(self) -> list[Path]:
        return [self.logs_dir / "kafka.out", self.logs_dir / "server.log"]

    def answers(self) -> bool:
        if not port_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        try:
            brokers = AdminClient({"bootstrap.servers": f"{HOST}:{self.port}", "log_level": 0}
                                  ).list_topics(timeout=2).brokers
        except Exception:  # noqa: BLE001  (any failure: not ready yet)
            return False
        return bool(brokers)

    def _tool(self, java: str, *args: str) -> list[str]:
        return [java, "-Xmx256m", f"-Dlog4j.configuration=file:{HERE / 'kafka' / 'tools-log4j.properties'}",
                "-cp", f"{self.home / 'libs'}/*", *args]

    def start(self) -> None:
        java = find_java()
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        tls_ensure(self.config)
        render(HERE / "kafka" / "server.properties.in", self.props, {
            "KAFKA_PORT": str(self.config.kafka_port),
            "CONTROLLER_PORT": str(self.config.controller_port), "DATA_DIR": str(self.data),
            "SASL_PORT": str(self.config.sasl_port),
            "KEYSTORE": str(self.config.tls_dir / "kafka.p12"),
            "KEYSTORE_PASSWORD": (self.config.secrets_dir / "kafka-keystore").read_text().strip(),
        }, mode=0o600)
        self._format(java)
        say("kafka: starting...")
        out = self.logs_dir / "kafka.out"
        if out.exists():
            out.replace(self.logs_dir / "kafka.out.1")
        with out.open("wb") as log:
            launch([java, *self.config.kafka_heap_opts.split(), "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                    "-XX:+ExplicitGCInvokesConcurrent",
                    f"-Xlog:gc*:file={self.logs_dir}/gc.log:time,tags:filecount=5,filesize=20M",
                    "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
                    f"-Dkafka.logs.dir={self.logs_dir}",
                    f"-Dlog4j.configuration=file:{HERE / 'kafka' / 'log4j.properties'}",
                    "-cp", f"{self.home / 'libs'}/*", "kafka.Kafka", str(self.props)],
                   self.pidfile, log, self.home)

    def _format(self, java: str) -> None:
        """The cluster id is made once and kept; storage is formatted only when it is new."""
        meta, id_file = self.data / "meta.properties", self.home / "cluster.id"
        if meta.exists():
            found = re.search(r"^cluster\.id=(.+)$", meta.read_text(), re.M)
            if found and (not id_file.exists() or id_file.read_text().strip() != found.group(1)):
                id_file.write_text(found.group(1) + "\n")
            return
        if not id_file.exists() or not id_file.read_text().strip():
            made = subprocess.run(self._tool(java, "kafka.tools.StorageTool", "random-uuid"),
                                  capture_output=True, text=True, check=False)
            if made.returncode or not made.stdout.strip():
                raise StackError(f"kafka: StorageTool random-uuid failed: {made.stderr[-2000:]}")
            id_file.write_text(made.stdout.strip().splitlines()[-1] + "\n")
        cluster_id = id_file.read_text().strip()
        say(f"kafka: formatting storage {self.data} (cluster id {cluster_id})...")
        run_logged(self._tool(java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c",
                              str(self.props)),
                   self.logs_dir / "storage-format.log", f"kafka: formatting {self.data}")

    def after_ready(self) -> None:
        paystream_access(self.config, "kafka", "--passwords-dir",
                         str(self.config.secrets_dir / "kafka"), "--generate")

class Redis(Server):
    def __init__(self, config: Config, name: str) -> None:
        super().__init__(config)
        self.name = name
        notify = name == "redis-notify"
        self._port = config.notify_redis_port if notify else config.redis_port
        self.tls_port = config.notify_redis_tls_port if notify else config.redis_tls_port
        self.role = "notify" if notify else "state"
        self.home = config.state / name
        self.conf = self.home / "redis.conf"
        self.log = self.home / "redis.log"

    @property
    def port(self) -> int:
        return self._port

    def ports(self) -> list[int]:
        return [self._port, self.tls_port]

    def is_ours(self, pid: int) -> bool:
        """A live redis-server whose working directory (its `dir`) is ours."""
        return "redis-server" in cmdline(pid) and cwd_of(pid) == str(self.home)

    def search(self) -> int | None:
        for pid in live_pids():
            if self.is_ours(pid):
                return pid
        return None

    def logs(self) -> list[Path]:
        return [self.home / "redis.out", self.log]

    @property
    def huge_pages(self) -> bool:
        """Whether its heap asks for transparent huge pages (redis.conf.in says why): the
        account state's, where the machine's THP mode grants them; jemalloc asks by
        MALLOC_CONF, Redis lets it by `disable-thp no`."""
        return self.role == "state"

    def answers(self) -> bool:
        try:
            done = subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port), "ping"],
                                  capture_output=True, text=True, timeout=3, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.stdout.strip() == "PONG"

    def _acl_file(self) -> None:
        """The instance's ACL users (streams/access.py) with the stack's passwords."""
        paystream_access(self.config, "redis-acl", "--server", self.role, "--passwords-dir",
                         str(self.config.secrets_dir / "redis"), "--generate", "--out",
                         str(self.home / "users.acl"))

    def begin(self) -> float | None:
        if self.pid() is not None:
            # Users added since it started (streams/access.py): rewrite its ACL file, reload it.
            acl = self.home / "users.acl"
            before = acl.read_text() if acl.exists() else ""
            self._acl_file()
            if acl.read_text() != before:
                if subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port), "ACL", "LOAD"],
                                  capture_output=True, timeout=5, check=False).returncode:
                    raise StackError(f"{self.name}: ACL LOAD of {acl} failed")
                say(f"{self.name}: ACL users reloaded")
        return super().begin()

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tls_ensure(self.config)
        self._acl_file()
        module = HERE.parent.parent / "native" / "redis" / "build" / "paystream.so"
        loadmodule = (f'loadmodule "{module}"' if self.role == "state" and module.exists()
                      else "# (not loaded: not the account state's server, or not built)")
        render(HERE / "redis.conf.in", self.conf, {
            "PORT": str(self.port), "DIR": str(self.home), "PIDFILE": str(self.pidfile),
            "LOGFILE": str(self.log), "TLS_PORT": str(self.tls_port),
            "TLS_DIR": str(self.config.tls_dir), "ACLFILE": str(self.home / "users.acl"),
            "LOADMODULE": loadmodule, "DISABLE_THP": "no" if self.huge_pages else "yes"})
        rotate_log(self.log)
        say(f"{self.name}: starting...")
        malloc = {"MALLOC_CONF": "thp:always"} if self.huge_pages else {}
        # daemonize yes: redis-server forks, detaches and writes its pid file itself.
        with (self.home / "redis.out").open("wb") as out:
            done = subprocess.run(["redis-server", str(self.conf)], cwd=self.home,
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, **malloc}, check=False)
        if done.returncode:
            raise StackError(f"{self.name}: redis-server failed to start (config: {self.conf})\n"
                             f"{log_tail(*self.logs())}")
        # Its pid file, not `pid()`: the forked server is found by its command line a moment
        # before it writes the file, and wait_ready takes a missing pid file for an exit.
        if not wait_until(self.pidfile_alive, 10, lambda: None, every_s=0.1):
            raise StackError(f"{self.name}: redis-server wrote no pid file\n"
                             f"{log_tail(*self.logs())}")


class RewriteIdle:
    """deploy/local/rewrite_idle.py beside the Redis servers: their AOF rewrite children on idle
    CPU. Not a server (no port): started after them, stopped before them; where the machine
    cannot do it (not root, no cpu cgroup) it says why in its log and exits, and the stack runs
    as before."""

    name = "redis-rewrite-idle"

    def __init__(self, config: Config, redis: list[Redis]) -> None:
        self.config = config
        self.redis = redis
        self.pidfile = config.run_dir / f"{self.name}.pid"
        self.log = config.state / f"{self.name}.log"

    def pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid is not None and "rewrite_idle.py" in cmdline(pid) else None

    def up(self) -> None:
        if self.pid() is not None:
            say(f"{self.name}: already running (pid {self.pid()})")
            return
        with self.log.open("ab") as out:
            launch([sys.executable, str(HERE / "rewrite_idle.py"),
                    *[str(server.pidfile) for server in self.redis]], self.pidfile, out, HERE)
        time.sleep(0.5)  # long enough to make its cgroup or find it cannot
        if self.pid() is None:
            self.pidfile.unlink(missing_ok=True)
            said = (self.log.read_text(errors="replace").strip().splitlines()
                    if self.log.exists() else [])
            say(f"{self.name}: not running: {said[-1] if said else 'it exited'} (log {self.log})")
        else:
            say(f"{self.name}: running (pid {self.pid()}): Redis's AOF rewrites on idle CPU")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(self.name, pid, self.config.stop_s)
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> None:
        pid = self.pid()
        say(f"{self.name}: running (pid {pid})" if pid is not None else f"{self.name}: stopped")


class Prometheus(Server):
    name = "prometheus"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.home = config.state / "prometheus"
        self.conf = self.home / "prometheus.yml"
        self.log = self.home / "prometheus.log"

    @property
    def port(self) -> int:
        return self.config.prometheus_port

    def is_ours(self, pid: int) -> bool:
        line = cmdline(pid)
        return "prometheus" in line and f"--config.file={self.conf}" in line

    def logs(self) -> list[Path]:
        return [self.log]

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/-/ready", timeout=2):
                return True
        except OSError:
            return False

    def begin(self) -> float | None:
        (self.home / "targets").mkdir(parents=True, exist_ok=True)
        render(HERE / "prometheus.yml.in", self.conf, {"TARGETS": str(self.home / "targets"),
                                                       "ALERTS": str(HERE / "alerts.yml")})
        return super().begin()

    def start(self) -> None:
        rotate_log(self.log)
        say("prometheus: starting...")
        with self.log.open("ab") as log:
            launch(["prometheus", f"--config.file={self.conf}",
                    f"--storage.tsdb.path={self.home / 'data'}", "--storage.tsdb.retention.time=2d",
                    f"--web.listen-address={HOST}:{self.port}"], self.pidfile, log, self.home)
