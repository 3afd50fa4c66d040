"""Sink throughput: rows/s and CPU per row of each sink, and of PostgreSQL / Redis behind it.

Publishes N generated transactions under a fresh topic prefix, lets one worker decide them
(decisions and postings), then runs each sink alone over the whole backlog, one after the other:
`paystream sink ledger`, `reporting`, and webhook delivery (`paystream notify` with one partner
subscribed to every kind, delivering to a local `paystream webhook-receiver`), each in a fresh
consumer group, exiting when idle. Measured per sink: wall rate from its own log, its process
CPU (getrusage of the child), and the CPU of the store's server from /proc (PostgreSQL: the
postmaster and its backends, including the ones that exited; Redis: the notifications' server,
which holds the delivery outcomes). For webhooks also deliveries per second per core of the
delivering process (deliveries / its CPU seconds); the receiver's CPU is the partner's.
The run's topics, schema and Redis keys are removed afterwards (loadtest.bench.clean_up).

`--against DIR` makes a pair instead: one sink (or the webhook delivery) of this checkout and of
DIR (a git worktree of another commit) run in turn over the same decided backlog, each run into
a schema of its own from the start of the topics (webhooks: with the delivery records cleared).

    python -m loadtest.sink_bench --transactions 100000
    python -m loadtest.sink_bench --transactions 100000 --sink ledger --against /tmp/base --runs 3
    python -m loadtest.sink_bench --transactions 100000 --sink webhooks --against /tmp/base
    python -m loadtest.sink_bench --transactions 100000 --profile /tmp/sinks   # py-spy of each
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from loadtest.bench import clean_up, drop_schema
from loadtest.procstat import REPO, pid_from_file, postgres_cpu_s, proc_cpu_s
from paystream.launch import command, environment
from streams.settings import Settings, kafka_client_config

RECEIVER_PORT = 18099
SECRET = "bench-only-secret"
#: The one partner the webhook runs deliver to (its sink, consumer group and records carry it).
PARTNER = "bench"
NOTIFY_SINK = f"notify-{PARTNER}"  # sinks.webhooks.sink_name


def run_sink(name: str, env: dict[str, str], cwd: Path = REPO,
             profile: Path | None = None) -> dict[str, Any]:
    """One sink over the whole backlog. With `profile`, the sink runs under py-spy (100
    samples/s, raw format, into that file): py-spy's own CPU then counts in the sink's."""
    server_cpu = postgres_cpu_s if name != "webhooks" else (
        lambda: proc_cpu_s(pid_from_file("redis-notify")) or 0.0)
    args = ["sink", name] if name != "webhooks" else ["notify"]
    argv = command(*args, "--idle-exit-s", "3")
    if profile is not None:
        argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--rate", "100",
                "--format", "raw", "--output", str(profile), "--", *argv]
    before_server = server_cpu()
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, env={**env, "PYTHONPATH": str(cwd)}, cwd=cwd, capture_output=True,
                            text=True, check=True)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_s = server_cpu() - before_server
    process_s = ((after_children.ru_utime - before_children.ru_utime)
                 + (after_children.ru_stime - before_children.ru_stime))
    runner = name if name != "webhooks" else NOTIFY_SINK
    last = [line for line in result.stderr.splitlines() if f"sink {runner}:" in line][-1]
    counts = re.search(r"(\d+) messages, (\d+) new rows", last)
    speed = re.search(r"\(([\d.]+) messages/s\)", last)
    if counts is None or speed is None:
        raise SystemExit(f"the sink's last report does not say what it wrote: {last!r}")
    messages, rows = (int(x) for x in counts.groups())
    rate = float(speed.group(1))
    figures = {"sink": name, "messages": messages, "rows": rows, "messages_per_s": round(rate),
               "sink_cpu_us_per_message": round(process_s * 1e6 / messages, 1),
               "server_cpu_us_per_message": round(server_s * 1e6 / messages, 1),
               "note": "messages/s over the sink's whole life incl. start-up and the idle wait"}
    if name == "webhooks":
        figures["deliveries"] = rows
        figures["deliveries_per_s_per_core"] = round(rows / process_s)
    return figures


def webhooks_env(env: dict[str, str], logs: Any) -> tuple[dict[str, str], subprocess.Popen]:
    """A partner subscribed to every kind, and its receiver started on RECEIVER_PORT."""
    partners = logs / "partners.toml"
    partners.write_text(f'[partners.{PARTNER}]\nurl = "http://127.0.0.1:{RECEIVER_PORT}/hooks"\n'
                        f'secret_env = "PARTNER_WEBHOOK_SECRET"\n')
    env = {**env, "PAYSTREAM_PARTNERS_PATH": str(partners), "PARTNER_WEBHOOK_SECRET": SECRET}
    receiver = subprocess.Popen(command("webhook-receiver", "--port", str(RECEIVER_PORT)),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # listening
    return env, receiver


def decide(env: dict[str, str]) -> None:
    """One worker decides the published backlog (reconcile waits until it has), then stops."""
    worker = subprocess.Popen(command("worker"), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        subprocess.run(command("reconcile", "--wait-s", "600"), env=env, check=True,
                       capture_output=True)
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def measure(env: dict[str, str], profile: Path | None = None) -> list[dict[str, Any]]:
    decide(env)
    results = [run_sink(name, env, profile=profile / f"{name}.pyspy.txt" if profile else None)
               for name in ("ledger", "reporting")]
    logs = tempfile.TemporaryDirectory()
    hooks_env, receiver = webhooks_env(env, Path(logs.name))
    try:
        results.append(run_sink("webhooks", hooks_env,
                                profile=profile / "webhooks.pyspy.txt" if profile else None))
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)
        logs.cleanup()
    return results


def pair(env: dict[str, str], sink: str, against: Path,
         runs: int) -> list[dict[str, Any]]:
    """One sink of two checkouts over the same decided backlog, alternating, `runs` each: every
    run in its own schema (dropped after it) and from the start of the topics; for webhooks,
    with the partner's delivery records cleared, so each run delivers every event."""
    from confluent_kafka.admin import AdminClient
    from redis import Redis

    from sinks.runner import group_id
    from streams.notifications import keys

    decide(env)
    settings = Settings(topic_prefix=env["PAYSTREAM_TOPIC_PREFIX"])
    admin = AdminClient(kafka_client_config(settings))
    group = group_id(settings.topic_prefix, sink if sink != "webhooks" else NOTIFY_SINK)
    logs = tempfile.TemporaryDirectory()
    receiver = None
    if sink == "webhooks":
        env, receiver = webhooks_env(env, Path(logs.name))
    results = []
    try:
        for run in range(1, runs + 1):
            for side, repo in (("against", against), ("this", REPO)):
                schema = f"{env['PAYSTREAM_DB_SCHEMA']}_{side}{run}"
                side_env = {**env, "PAYSTREAM_DB_SCHEMA": schema}
                # From the start of the topics: the group's offsets go (none yet on the first run).
                admin.delete_consumer_groups([group], request_timeout=30)[group].exception(timeout=60)
                if sink == "webhooks":
                    notify = keys(settings.topic_prefix)
                    with Redis.from_url(settings.notify_redis_url) as redis:
                        redis.delete(notify["outcomes"] + PARTNER, notify["dead"])
                try:
                    figures = run_sink(sink, side_env, cwd=repo)
                finally:
                    asyncio.run(drop_schema(settings.database_url, schema))
                results.append({"side": side, "repo": str(repo), "run": run, **figures})
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(timeout=30)
        logs.cleanup()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="A pair: the --sink of this checkout and of DIR (a git worktree of "
                             "another commit), alternating over one decided backlog.")
    parser.add_argument("--sink", choices=("ledger", "reporting", "webhooks"), default="ledger",
                        help="The sink a pair runs (with --against).")
    parser.add_argument("--runs", type=int, default=3, help="Runs of each side in a pair.")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="Run each sink (and the webhook delivery) under py-spy, a raw "
                             "profile each into DIR (without --against; py-spy's CPU counts in theirs).")
    args = parser.parse_args(argv)
    if args.profile and args.against:
        parser.error("--profile measures one checkout: leave out --against")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    env = environment(Settings(topic_prefix=f"bench-sink-{run_id}.",
                               db_schema=f"bench_sink_{run_id}"))
    subprocess.run(command("topics", "create"), env=env, check=True, capture_output=True)
    subprocess.run(command("produce", "--count", str(args.transactions), "--seed", "7"),
                   env=env, check=True, capture_output=True)
    try:
        results = (pair(env, args.sink, args.against.resolve(), args.runs)
                   if args.against else measure(env, args.profile))
    finally:
        clean_up(Settings(topic_prefix=env["PAYSTREAM_TOPIC_PREFIX"],
                          db_schema=env["PAYSTREAM_DB_SCHEMA"]), out=sys.stderr)
    print(json.dumps({"transactions": args.transactions, "date": time.strftime("%Y-%m-%d"),
                      "sinks": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
