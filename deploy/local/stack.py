"""The local stack's servers: start, wait until ready, stop and report them, by pid.

Kafka (KRaft, single node), PostgreSQL, two Redis (account state; notifications) and Prometheus,
each a project-local instance on 127.0.0.1 with its own data under the state directory. Installing
them (Debian packages, the Kafka jars) stays in deploy/local/stack.sh, which calls this for the
rest; `make up`, `make down` and `make status` go through it.

    python deploy/local/stack.py up|down|status|env|start SERVER|stop SERVER

The main ports come from paystream's own settings (the defaults of KAFKA_BOOTSTRAP_SERVERS,
DATABASE_URL, REDIS_URL and NOTIFY_REDIS_URL in streams/settings.py), so they are written down
once; PAYSTREAM_<SERVER>_PORT variables move them, as deploy/local/README.md says.
"""

from __future__ import annotations

import fcntl
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from stack_base import HERE, HOST, Config, Server, StackError, say
from stack_postgres import Postgres
from stack_servers import Kafka, Prometheus, Redis, RewriteIdle

# --- commands ---------------------------------------------------------------------------------


def rewrite_idle(config: Config, every: dict[str, Server]) -> RewriteIdle:
    return RewriteIdle(config, [cast(Redis, every[name]) for name in ("redis", "redis-notify")])


def servers(config: Config) -> dict[str, Server]:
    return {"kafka": Kafka(config), "postgres": Postgres(config),
            "redis": Redis(config, "redis"), "redis-notify": Redis(config, "redis-notify"),
            "prometheus": Prometheus(config)}


@contextmanager
def locked(config: Config) -> Iterator[None]:
    """One stack command at a time (a second waits for the first)."""
    config.run_dir.mkdir(parents=True, exist_ok=True)
    with (config.run_dir / "stack.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another stack command to finish (lock {config.run_dir / 'stack.lock'})...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(config: Config) -> None:
    started_at = time.monotonic()
    every = servers(config)
    # Kafka's JVM is the slowest to boot: begun first, waited for last.
    kafka_started = every["kafka"].begin()
    for name in ("postgres", "redis", "redis-notify", "prometheus"):
        every[name].up()
    every["kafka"].finish(kafka_started)
    rewrite_idle(config, every).up()
    c = config
    say(f"\npaystream local stack is up ({time.monotonic() - started_at:.1f}s); state in {c.state}")
    say(f"  kafka      {HOST}:{c.kafka_port}  (KRaft controller {HOST}:{c.controller_port}; "
        f"SASL_SSL {HOST}:{c.sasl_port}, SCRAM users per role, passwords in "
        f"{c.secrets_dir / 'kafka'}, CA {c.tls_dir / 'ca.crt'})")
    say(f"  postgres   {HOST}:{c.pg_port}  (roles of least privilege over TLS)")
    say(f"  redis      {HOST}:{c.redis_port} (account state), {HOST}:{c.notify_redis_port} "
        f"(notifications); TLS on {c.redis_tls_port}, {c.notify_redis_tls_port}")
    say(f"  prometheus http://{HOST}:{c.prometheus_port}")
    say(f'Environment (eval "$({HERE / "stack.sh"} env)"):')
    for key, value in c.environment().items():
        say(f"  export {key}={value}")


def main(argv: list[str]) -> int:
    usage = "usage: stack.py up|down|status|env|start SERVER|stop SERVER"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    try:
        config = Config.from_environment()
        every = servers(config)
        command = argv[0]
        if command == "env":
            for key, value in config.environment().items():
                print(f"export {key}={value}")
            return 0
        if command == "pid":  # for stack.sh install: never swap jars under a running broker
            pid = every[argv[1]].pid() if len(argv) > 1 and argv[1] in every else None
            if pid is not None:
                print(pid)
            return 0 if pid is not None else 1
        if command == "status":
            running = [server.status() for server in every.values()]
            rewrite_idle(config, every).status()
            return 0 if all(running) else 3
        if command in ("start", "stop"):
            if len(argv) < 2 or argv[1] not in every:
                raise StackError(f"{command} what? one of: {', '.join(every)}")
            with locked(config):
                server = every[argv[1]]
                server.up() if command == "start" else server.stop()
            return 0
        with locked(config):
            if command == "up":
                try:
                    up(config)
                except StackError:
                    print("stack: up failed; servers already started stay up (see 'make status',"
                          " stop them with 'make down')", file=sys.stderr)
                    raise
            elif command == "down":
                rewrite_idle(config, every).stop()
                for name in ("prometheus", "kafka", "redis-notify", "redis", "postgres"):
                    every[name].stop()
            else:
                print(usage, file=sys.stderr)
                return 2
        return 0
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
