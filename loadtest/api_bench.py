"""The analysts' API under load: Locust users on a realistic mix over a 10M-transaction store.

1. The store (loadtest.api_store): schema `bench_api` (kept between runs; loaded again only if it
   holds fewer transactions than asked, or with --reload), account state under the Redis
   namespace `bench-api.`.
2. EXPLAIN of every query the mix runs: none may scan report_transactions or the ledger.
3. `paystream api` as a process, an analyst key, then Locust (FastHttpUser, headless) at
   --rate requests/s for --run-s seconds after the users are spawned; per endpoint: requests,
   failures, p50/p95/p99 (ms) and rate, and the CPU of the API process and PostgreSQL.
Results: loadtest/results/<name>.json and .md.

    python -m loadtest.api_bench --transactions 10000000 --rate 250 --run-s 60
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from api import reads
from api.models import Bucket, Dimension, Outcome, SearchFilters
from loadtest import api_store
from loadtest.bench import BenchError, machine
from loadtest.procstat import postgres_cpu_s, proc_cpu_s
from paystream.launch import command, environment, free_port, run
from streams.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA, NAMESPACE = "bench_api", "bench-api."
SAMPLES_DIR = ROOT / ".local" / "api-bench"
#: The targets of the issue, per endpoint.
P95_MS_MAX, P99_MS_MAX, RATE_MIN = 200, 500, 200
BIG_TABLES = {"report_transactions", "ledger"}


def api_settings(settings: Settings, port: int) -> Settings:
    """The bench's own schema and namespace, a free port, and no rate limit in the way."""
    return settings.model_copy(update={"db_schema": SCHEMA, "topic_prefix": NAMESPACE,
                                       "api_port": port, "api_rate_limit": "1000000/minute",
                                       "api_pool_size": 10})


def ensure_store(settings: Settings, transactions: int, reload: bool) -> dict[str, Any]:
    samples_path = SAMPLES_DIR / f"samples-{SCHEMA}.json"

    async def loaded() -> int:
        connection = await asyncpg.connect(settings.database_url)
        try:
            exists = await connection.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f"{SCHEMA}.report_transactions")
            if not exists:
                return 0
            return int(await connection.fetchval(
                f"SELECT reltuples::bigint FROM pg_class WHERE oid = '{SCHEMA}.report_transactions'::regclass"))
        finally:
            await connection.close()

    have = asyncio.run(loaded())
    if not reload and have >= transactions * 0.99 and samples_path.exists():
        print(f"== store: schema {SCHEMA} holds ~{have:,} transactions (kept from an earlier run)")
        return json.loads(samples_path.read_text())
    print(f"== store: loading {transactions:,} transactions into schema {SCHEMA} (COPY, minutes)")
    started = time.monotonic()
    asyncio.run(_drop_schema(settings))
    run(settings.model_copy(update={"db_schema": SCHEMA}), "db", "migrate", check=True)
    samples = api_store.run(settings.database_url, SCHEMA, settings.redis_url, NAMESPACE, transactions)
    SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    samples_path.write_text(json.dumps(dataclasses.asdict(samples)))
    print(f"   loaded in {time.monotonic() - started:.0f} s")
    return dataclasses.asdict(samples)


async def _drop_schema(settings: Settings) -> None:
    """The bench's own schema (only ever that one) dropped, to be migrated afresh."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    finally:
        await connection.close()


def queries(samples: dict[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """Every query the mix runs, with sample arguments, for EXPLAIN."""
    end = datetime.fromisoformat(samples["end"]) - timedelta(days=3)
    window = lambda hours: {"from": end - timedelta(hours=hours), "to": end}  # noqa: E731
    account, merchant = samples["accounts"][0], samples["merchants"][0]
    search = lambda hours, **f: reads.search_sql(  # noqa: E731
        SearchFilters.model_validate({**window(hours), **f}), None, 51)
    found = {
        "transaction": (reads.TRANSACTION_SQL, [samples["tx_ids"][0]]),
        "postings": (reads.POSTINGS_SQL, [samples["tx_ids"][0]]),
        "search by account": search(24 * 30, account=account),
        "search by outcome": search(24, outcome="DECLINE"),
        "search by merchant": search(24 * 7, merchant_id=merchant),
        "statement": (reads.STATEMENT_SQL, [account, 0, 101]),
        "chain check": (reads.CHAIN_RANGE_SQL, [account, 0, 200]),
        "latency": (reads.LATENCY_SQL, [end - timedelta(hours=1), end]),
        "top merchants": (reads.TOP_MERCHANTS_SQL, [Outcome.DECLINE.value, end - timedelta(hours=6), end, 10]),
        "review queue": (reads.HELD_SQL, [samples["tx_ids"][:51]]),
    }
    for bucket in Bucket:
        found[f"report by {bucket.value}"] = (reads.report_sql(bucket, Dimension.country),
                                             [end - timedelta(days=7), end])
    return found


def explain(settings: Settings, samples: dict[str, Any]) -> dict[str, dict[str, Any]]:
    async def run() -> dict[str, dict[str, Any]]:
        connection = await asyncpg.connect(settings.database_url, server_settings={"search_path": SCHEMA})
        plans = {}
        try:
            for name, (sql, args) in queries(samples).items():
                plan = json.loads(await connection.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
                nodes = list(_nodes(plan[0]["Plan"]))
                scans = sorted({f"{n['Node Type']} on {n['Relation Name']}"
                                + (f" using {n['Index Name']}" if "Index Name" in n else "")
                                for n in nodes if "Relation Name" in n})
                big = [s for s in scans if s.startswith("Seq Scan") and s.split(" on ")[1] in BIG_TABLES]
                plans[name] = {"scans": scans, "scans_a_big_table": bool(big)}
        finally:
            await connection.close()
        return plans

    return asyncio.run(run())


def _nodes(node: dict[str, Any]) -> Any:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def serve_and_load(settings: Settings, samples: dict[str, Any], rate: float, run_s: int,
                   rate_per_user: float, workdir: Path) -> dict[str, Any]:
    port = free_port()
    bench_settings = api_settings(settings, port)
    env = environment(bench_settings)
    made = run(bench_settings, "api", "keys", "create", "--role", "analyst", "--name", "api bench")
    if made.returncode:
        raise BenchError(f"could not create a key: {made.stderr}")
    key = made.stdout.strip().splitlines()[-1]
    samples_path = workdir / "samples.json"
    samples_path.write_text(json.dumps(samples))
    with (workdir / "api.log").open("wb") as api_log:
        api = subprocess.Popen(command("api", "--port", str(port)),
                               env=env, stdout=api_log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, api)
        users = max(1, round(rate / rate_per_user))
        print(f"== Locust: {users} users x {rate_per_user}/s against {url} for {run_s} s")
        before = (proc_cpu_s(api.pid) or 0.0, postgres_cpu_s(), time.monotonic())
        locust = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "api_locustfile.py"),
             "--headless", "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{run_s}s",
             "--host", url, "--csv", str(workdir / "api"), "--only-summary", "--reset-stats",
             "--rate-per-user", str(rate_per_user), "--stop-timeout", "10"],
            env={**env, "PAYSTREAM_API_BENCH_SAMPLES": str(samples_path),
                 "PAYSTREAM_API_BENCH_KEY": key, "PYTHONPATH": str(ROOT)},
            cwd=workdir, capture_output=True, text=True, timeout=run_s + 180,
            check=False)  # a failed run still leaves its CSV; read below
        after = (proc_cpu_s(api.pid) or 0.0, postgres_cpu_s(), time.monotonic())
        if not (workdir / "api_stats.csv").exists():
            raise BenchError(f"Locust wrote no stats: {locust.stderr[-2000:]}")
    finally:
        api.terminate()
        api.wait(timeout=30)
    elapsed = after[2] - before[2]
    return {"endpoints": _stats(workdir / "api_stats.csv"), "users": users,
            "api_cpu_cores": round((after[0] - before[0]) / elapsed, 2),
            "postgres_cpu_cores": round((after[1] - before[1]) / elapsed, 2)}


def _wait_healthy(url: str, api: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise BenchError(f"the API exited with {api.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise BenchError("the API did not answer within 60 s")


def _stats(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open() as stats:
        for row in csv.DictReader(stats):
            rows.append({"endpoint": row["Name"], "requests": int(row["Request Count"]),
                         "failures": int(row["Failure Count"]),
                         "rate_per_s": round(float(row["Requests/s"]), 1),
                         "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
                         "p99_ms": float(row["99%"])})
    return rows


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    per = [e for e in result["endpoints"] if e["endpoint"] != "Aggregated"]
    total = next(e for e in result["endpoints"] if e["endpoint"] == "Aggregated")
    slow = [e["endpoint"] for e in per if e["p95_ms"] >= P95_MS_MAX or e["p99_ms"] >= P99_MS_MAX]
    return {"rate_met": total["rate_per_s"] >= RATE_MIN, "latency_met_everywhere": not slow,
            "slow_endpoints": slow, "failures": sum(e["failures"] for e in per),
            "no_big_table_scans": not any(p["scans_a_big_table"] for p in result["explain"].values())}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# API benchmark, {result['date']}", "",
             f"Machine: {result['machine']}. Store: schema `{SCHEMA}`, {result['store_transactions']:,} "
             f"transactions. Locust {result['users']} users, {result['run_s']} s at {result['rate']}/s "
             f"offered; the API used {result['api_cpu_cores']} cores, PostgreSQL "
             f"{result['postgres_cpu_cores']}.", "",
             "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for e in result["endpoints"]:
        lines.append(f"| {e['endpoint']} | {e['requests']:,} | {e['failures']} | {e['rate_per_s']} | "
                     f"{e['p50_ms']:.0f} | {e['p95_ms']:.0f} | {e['p99_ms']:.0f} |")
    lines += ["", f"Verdicts: {json.dumps(result['verdicts'])}", "", "EXPLAIN (what each query reads):", ""]
    for name, plan in result["explain"].items():
        lines.append(f"- {name}: {'; '.join(plan['scans'])}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--rate", type=float, default=250.0, help="requests/s offered in all")
    parser.add_argument("--rate-per-user", type=float, default=4.0)
    parser.add_argument("--run-s", type=int, default=60)
    parser.add_argument("--reload", action="store_true", help="load the store again even if present")
    parser.add_argument("--name", default="api-bench")
    parser.add_argument("--out", type=Path, default=ROOT / "loadtest" / "results")
    args = parser.parse_args()
    settings = load_settings()
    samples = ensure_store(settings, args.transactions, args.reload)
    print("== EXPLAIN of every query of the mix")
    plans = explain(settings, samples)
    for name, plan in plans.items():
        print(f"   {name}: {'; '.join(plan['scans'])}")
    with tempfile.TemporaryDirectory(prefix="api-bench-") as workdir:
        result = serve_and_load(settings, samples, args.rate, args.run_s, args.rate_per_user, Path(workdir))
    result.update({"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                   "machine": "{cores} cores ({cpu}), {memory_gib} GiB".format(**machine()),
                   "store_transactions": args.transactions, "rate": args.rate, "run_s": args.run_s,
                   "explain": plans})
    result["verdicts"] = verdicts(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
