"""One worker draining a backlog alone: CPU per transaction of the worker and of its state store.

Publishes N generated transactions under a fresh topic prefix (before anything is measured),
then starts one `paystream worker` (authorize and settle in one process) and measures, from
its first decision until every transaction is decided (or dead-lettered) and every credit
settled (the worker group's lag on transactions and credits is 0), the CPU of the worker and of
the account-state Redis from /proc, and the wall rate. No sinks run. `--after N` publishes N more
ahead of them and measures from when those are decided: the generator's traffic opens with the
accounts' first deposits, cheaper than its steady mix of payments (a drain of the first 100k of
50k accounts measures mostly that opening).

`--redis-cluster DIR` puts the account state on the local Redis Cluster started in DIR by
deploy/local/redis_cluster.py (REDIS_CLUSTER=true): Redis's CPU and command counts are then its
masters' together.

`--repo DIR` runs the worker from another checkout (a git worktree of an older commit), with
this machine's Python environment: the same backlog and the same measurement for a before/after
pair in one session. An older worker may not read the traffic today's producer writes (e6897cf
knows the transaction schema up to v2, today's producer writes v3): it would dead-letter the
backlog and measure nothing, so the bench stops when more than 1% of the backlog was
dead-lettered, and `--traffic-repo DIR` publishes the backlog with that checkout's producer
(give it to both runs of a pair, so both drain the same records). Needs the local stack
(`make up`) and a fraud model (`paystream train`) the worker's code can load.

    python -m loadtest.worker_bench --transactions 100000
    python -m loadtest.worker_bench --transactions 100000 --repo /tmp/paystream-e6897cf \
        --traffic-repo /tmp/paystream-e6897cf
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import redis

from loadtest.bench import Progress, clean_up
from loadtest.procstat import REPO, pid_from_file, proc_cpu_s, tree_cpu_s
from loadtest.profile import per_tx_us
from paystream.launch import command, environment
from streams.settings import Settings


def cluster_masters(directory: Path) -> list[tuple[int, int]]:
    """(port, pid) of each master of a local cluster (deploy/local/redis_cluster.py)."""
    found = [(int(pidfile.parent.name), int(pidfile.read_text().strip()))
             for pidfile in sorted(directory.glob("*/redis.pid"))]
    if len(found) < 3:
        raise SystemExit(f"no running Redis Cluster in {directory}: start one with "
                         f"python deploy/local/redis_cluster.py up --dir {directory}")
    return found


def summed_commandstats(clients: list[redis.Redis]) -> dict[str, Any]:
    total: dict[str, dict[str, float]] = {}
    for client in clients:
        for name, v in cast(dict[str, Any], client.info("commandstats")).items():
            entry = total.setdefault(name, {"calls": 0, "usec": 0})
            entry["calls"] += v["calls"]
            entry["usec"] += v["usec"]
    return total


def drain(count: int, repo: Path, env: dict[str, str], timeout_s: float,
          profile: Path | None = None, cluster: Path | None = None,
          batch_size: int | None = None, stats_every_s: float = 60.0,
          after: int = 0) -> dict[str, Any]:
    """Measure the worker over the backlog's transactions after the first `after` (and after its
    first batch): from the first look that finds them decided until all `after + count` are."""
    worker_env = {**env, "PYTHONPATH": str(repo)}
    log = tempfile.NamedTemporaryFile("w", prefix="worker-bench-", suffix=".log", delete=False)
    sized = ["--batch-size", str(batch_size)] if batch_size else []
    worker = subprocess.Popen(command("worker", "--stats-every-s", str(stats_every_s), *sized),
                              env=worker_env, cwd=repo, stdout=log, stderr=subprocess.STDOUT)
    masters = cluster_masters(cluster) if cluster else []
    redis_pids = [pid for _, pid in masters] or [p for p in [pid_from_file("redis")] if p]
    stats_urls = ([f"redis://127.0.0.1:{port}/0" for port, _ in masters]
                  or [Settings().redis_url])
    # The bench's own progress checks: a few broker requests per look, not one per partition.
    progress = Progress(Settings(topic_prefix=env["PAYSTREAM_TOPIC_PREFIX"]))
    try:
        deadline = time.monotonic() + timeout_s
        while (handled0 := progress.handled()) < max(after, 1):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker made no decision (log {log.name})")
            time.sleep(0.02)
        states = [redis.Redis.from_url(url) for url in stats_urls]
        for state in states:
            state.config_resetstat()
        worker0, started = proc_cpu_s(worker.pid), time.monotonic()
        redis0 = sum(tree_cpu_s(pid) or 0.0 for pid in redis_pids)
        profiler = start_profiler(worker.pid, profile) if profile else None
        while progress.handled() < after + count or progress.behind()["workers"] > 0:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not drain the backlog (log {log.name})")
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        dead_lettered = progress.messages(progress.names.dlq.name)
        worker_s = (proc_cpu_s(worker.pid) or 0.0) - (worker0 or 0.0)
        redis_s = sum(tree_cpu_s(pid) or 0.0 for pid in redis_pids) - redis0
        commands = command_costs(summed_commandstats(states), count)
        for state in states:
            state.close()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
            profiler.wait(timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        progress.close()
        log.close()
    # Per transaction decided inside the window: those decided before it (the first batch, or
    # the ones after `after` that the last look before it missed) spent their CPU before it.
    measured = after + count - handled0
    if measured <= 0:
        raise SystemExit(f"the worker decided all {after + count:,} transactions before the "
                         f"first look: too few to measure, publish more")
    per_tx = 1e6 / measured
    return {"repo": str(repo), "transactions": count, "measured_transactions": measured,
            "after": after, "tx_per_s": round(measured / elapsed),
            "dead_lettered": dead_lettered,
            "state_store": f"redis cluster, {len(masters)} masters" if masters else "one redis",
            "worker_cpu_us_per_tx": round(worker_s * per_tx, 1),
            "redis_cpu_us_per_tx": round(redis_s * per_tx, 1),
            "total_us_per_tx": round((worker_s + redis_s) * per_tx, 1), "log": log.name,
            "redis_commands_per_tx": commands,
            **({"worker_parts_us_per_tx": per_tx_us(profile, worker_s * per_tx)} if profile else {}),
            "note": "from the first decision until all decided and all credits settled (the "
                    "worker's commit interval adds up to ~1 s of wall time to the end)"}


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker (100/s, without pausing it) until told to stop."""
    return subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                             str(pid), "--rate", "100", "--nonblocking", "--format", "raw",
                             "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def command_costs(stats: dict[str, Any], count: int) -> dict[str, dict[str, float]]:
    """Redis's own count and time of each command, per transaction, largest time first.

    A command a script runs is counted under its own name and inside the script's (evalsha's
    time includes its commands): the script's own overhead is evalsha minus the rest.
    """
    costs = {name.removeprefix("cmdstat_"): {"calls": round(v["calls"] / count, 2),
                                             "us": round(v["usec"] / count, 2)}
             for name, v in stats.items()}
    return dict(sorted(costs.items(), key=lambda kv: -kv[1]["us"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.worker_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--after", type=int, default=0, metavar="N",
                        help="Publish N transactions ahead of the measured ones and measure "
                             "from when the worker has decided them: the steady traffic. The "
                             "generator opens with the accounts' first deposits (46%% of the "
                             "first ~1.2 transactions per account, ~3%% from ~8 on), and "
                             "payments rise from 43%% to 78%%.")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="Checkout whose worker runs (default: this one).")
    parser.add_argument("--traffic-repo", type=Path, default=REPO,
                        help="Checkout whose `paystream produce` publishes the backlog "
                             "(default: this one); give the older one to both runs of a pair.")
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="The worker's --batch-size (default: the worker's own).")
    parser.add_argument("--stats-every-s", type=float, default=60.0,
                        help="How often the worker logs its per-phase counts and times "
                             "(its --stats-every-s; the log is named in the result).")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="py-spy the worker while it drains (raw stacks to FILE) and fold "
                             "its CPU into named parts (loadtest/profile.py).")
    parser.add_argument("--redis-cluster", type=Path, metavar="DIR",
                        help="Account state on the local Redis Cluster running in DIR "
                             "(deploy/local/redis_cluster.py up --dir DIR).")
    args = parser.parse_args(argv)
    if args.transactions <= 0:
        parser.error("--transactions must be positive")
    if args.after < 0:
        parser.error("--after must be 0 or more")
    cluster: dict[str, Any] = {}
    if args.redis_cluster:
        port = cluster_masters(args.redis_cluster.resolve())[0][0]
        cluster = {"redis_url": f"redis://127.0.0.1:{port}/0", "redis_cluster": True}
    settings = Settings(topic_prefix=f"bench-worker-{uuid.uuid4().hex[:8]}.",
                        models_dir=os.environ.get("PAYSTREAM_MODELS_DIR", str(REPO / "models"))
                        ).model_copy(update=cluster)
    env = environment(settings)
    subprocess.run(command("topics", "create"), env=env, check=True, capture_output=True,
                   cwd=REPO)
    traffic = args.traffic_repo.resolve()
    published = args.after + args.transactions
    subprocess.run(command("produce", "--count", str(published), "--seed", "21",
                           "--accounts", str(args.accounts), "--json"),
                   env={**env, "PYTHONPATH": str(traffic)}, check=True, capture_output=True,
                   cwd=traffic)
    try:
        result = drain(args.transactions, args.repo.resolve(), env, args.timeout_s,
                       args.profile.resolve() if args.profile else None,
                       args.redis_cluster.resolve() if args.redis_cluster else None,
                       args.batch_size, args.stats_every_s, args.after)
    finally:
        clean_up(settings, out=sys.stderr)
    result["traffic_repo"] = str(traffic)
    result["batch_size"] = args.batch_size or "the worker's default"
    if result["dead_lettered"] > published // 100:
        print(json.dumps(result, indent=2))
        raise SystemExit(f"{result['dead_lettered']:,} of {published:,} transactions were "
                         f"dead-lettered: the worker of {result['repo']} could not read this "
                         f"traffic, so its CPU per transaction measures nothing. Publish the "
                         f"backlog with a producer it reads: --traffic-repo {result['repo']}")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
