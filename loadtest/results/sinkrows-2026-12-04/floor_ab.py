"""usage: floor_ab.py — the floor's PostgreSQL COPY by the method before (asyncpg encoding the
rows: loadtest/floor.py of 29ebd25, taken from git) and after (paystream_avro.copy_records),
alternated three times on the same rows (300k decisions, 600k postings written by the sinks'
writers into a schema of its own): server and client CPU per row of each table."""
import asyncio, importlib.util, random, subprocess, sys
sys.path.insert(0, "/work/main")
import loadtest.floor as new
from loadtest.procstat import tree_cpu_s
from sinks.db import connected, epoch_ms_timestamps, migrate
from sinks.ledger import LedgerWriter
from sinks.reporting import ReportingWriter
from streams.settings import Settings
from tests.unit.test_report_rows import decision

OLD = "/tmp/floor_old.py"
with open(OLD, "w") as out:
    out.write(subprocess.run(["git", "-C", "/work/main", "show", "29ebd25:loadtest/floor.py"],
                             capture_output=True, text=True, check=True).stdout)
spec = importlib.util.spec_from_file_location("floor_old", OLD)
old = importlib.util.module_from_spec(spec); sys.modules["floor_old"] = old; spec.loader.exec_module(old)
settings, schema = Settings(), "floor_ab"
pm = int(open("/work/main/.local/postgres/data/postmaster.pid").readline())
T0 = 1_767_225_600_000

async def fill() -> None:
    migrate(settings.database_url, schema)
    rng = random.Random(3)
    async with connected(settings.database_url, schema) as db:
        await epoch_ms_timestamps(db)
        reporting, ledger, seqs = ReportingWriter(db), LedgerWriter(db), {}
        for start in range(0, 300_000, 5_000):
            await reporting.write([decision(i, rng) for i in range(start, start + 5_000)])
            postings = []
            for i in range(start, start + 5_000):
                for leg, account in (("D", f"acc-{rng.randrange(100_000):06d}"), ("C", f"shop-{rng.randrange(5_000)}")):
                    seqs[account] = seqs.get(account, 0) + 1
                    postings.append({"posting_id": f"tx-{i}:{leg}", "tx_id": f"tx-{i}", "account": account,
                                     "currency": "EUR", "direction": "DEBIT" if leg == "D" else "CREDIT",
                                     "amount": 1_000, "balance_after": 50_000, "account_seq": seqs[account],
                                     "event_time": T0 + i, "posted_at": T0 + i + 30})
            await ledger.write(postings)

async def drop() -> None:
    async with connected(settings.database_url, schema) as db:
        await db.execute(f"DROP SCHEMA {schema} CASCADE")

asyncio.run(fill())
print("filled", flush=True)
try:
    for attempt in range(3):
        for name, module in (("before", old), ("after", new)):
            for table in ("ledger", "report_transactions"):
                module.FLOOR_TABLES = (table,)
                rows, client, server = asyncio.run(module.measure_postgres(
                    settings.database_url, schema, lambda: tree_cpu_s(pm) or 0.0))
                n = rows[table]
                print(f"{attempt} {name} {table}: {n:,} rows, server {1e6 * server / n:.1f} µs/row, "
                      f"client {1e6 * client / n:.1f} µs/row", flush=True)
finally:
    asyncio.run(drop())
