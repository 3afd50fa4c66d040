"""One worker draining a backlog alone: CPU per transaction of the worker and of its state store.

Publishes N generated transactions under a fresh topic prefix (before anything is measured),
then starts one `paystream worker` (authorize and settle in one process) and measures, from
its first decision until every transaction is decided (or dead-lettered) and every credit
settled (the worker group's lag on transactions and credits is 0), the CPU of the worker and of
the account-state Redis from /proc, and the wall rate. No sinks run.

`--repo DIR` runs the worker from another checkout (a git worktree of an older commit), with
this machine's Python environment: the same backlog and the same measurement for a before/after
pair in one session. Needs the local stack (`make up`) and a fraud model (`paystream train`).

    python -m loadtest.worker_bench --transactions 100000
    python -m loadtest.worker_bench --transactions 100000 --repo /tmp/paystream-e6897cf
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


def drain(count: int, repo: Path, env: dict[str, str], timeout_s: float,
          profile: Path | None = None) -> dict[str, Any]:
    worker_env = {**env, "PYTHONPATH": str(repo)}
    log = tempfile.NamedTemporaryFile("w", prefix="worker-bench-", suffix=".log", delete=False)
    worker = subprocess.Popen(command("worker", "--stats-every-s", "60"),
                              env=worker_env, cwd=repo, stdout=log, stderr=subprocess.STDOUT)
    redis_pid = pid_from_file("redis")
    # The bench's own progress checks: a few broker requests per look, not one per partition.
    progress = Progress(Settings(topic_prefix=env["PAYSTREAM_TOPIC_PREFIX"]))
    try:
        deadline = time.monotonic() + timeout_s
        while progress.handled() < 1:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker made no decision (log {log.name})")
            time.sleep(0.02)
        state = redis.Redis.from_url(Settings().redis_url)
        state.config_resetstat()
        worker0, redis0, started = proc_cpu_s(worker.pid), tree_cpu_s(redis_pid), time.monotonic()
        profiler = start_profiler(worker.pid, profile) if profile else None
        while progress.handled() < count or progress.behind()["workers"] > 0:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not drain the backlog (log {log.name})")
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        worker_s = (proc_cpu_s(worker.pid) or 0.0) - (worker0 or 0.0)
        redis_s = (tree_cpu_s(redis_pid) or 0.0) - (redis0 or 0.0)
        commands = command_costs(cast(dict[str, Any], state.info("commandstats")), count)
        state.close()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
            profiler.wait(timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        progress.close()
        log.close()
    per_tx = 1e6 / count
    return {"repo": str(repo), "transactions": count, "tx_per_s": round(count / elapsed),
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
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="Checkout whose worker runs (default: this one).")
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="py-spy the worker while it drains (raw stacks to FILE) and fold "
                             "its CPU into named parts (loadtest/profile.py).")
    args = parser.parse_args(argv)
    if args.transactions <= 0:
        parser.error("--transactions must be positive")
    env = environment(Settings(topic_prefix=f"bench-worker-{uuid.uuid4().hex[:8]}.",
                               models_dir=os.environ.get("PAYSTREAM_MODELS_DIR",
                                                         str(REPO / "models"))))
    subprocess.run(command("topics", "create"), env=env, check=True, capture_output=True,
                   cwd=REPO)
    subprocess.run(command("produce", "--count", str(args.transactions), "--seed", "21",
                           "--accounts", str(args.accounts), "--json"), env=env, check=True,
                   capture_output=True, cwd=REPO)
    try:
        result = drain(args.transactions, args.repo.resolve(), env, args.timeout_s,
                       args.profile.resolve() if args.profile else None)
    finally:
        clean_up(Settings(topic_prefix=env["PAYSTREAM_TOPIC_PREFIX"]), out=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
