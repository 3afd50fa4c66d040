"""PostgreSQL's CPU to COPY ledger- and report-shaped rows into tables whose id columns use the
database's collation (C.UTF-8) or COLLATE "C", alternated: µs of server CPU per row."""
import asyncio, datetime as dt, os, random, sys, time
sys.path.insert(0, "/work/main")
import asyncpg
from loadtest.procstat import stack_pids, tree_cpu_s
from streams.settings import load_settings

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BATCH = 5000

def ledger_ddl(name, c):
    k = ' COLLATE "C"' if c else ""
    return (f"CREATE TABLE {name} (posting_id text{k} PRIMARY KEY, tx_id text{k} NOT NULL, "
            f"account text{k} NOT NULL, currency char(3) NOT NULL, direction text NOT NULL, "
            f"amount bigint NOT NULL, balance_after bigint NOT NULL, account_seq bigint NOT NULL, "
            f"prev_hash char(64) NOT NULL, hash char(64) NOT NULL, event_time timestamptz NOT NULL, "
            f"posted_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), "
            f"UNIQUE (account, account_seq)); CREATE INDEX ON {name} (tx_id)")

def report_ddl(name, c):
    k = ' COLLATE "C"' if c else ""
    return (f"CREATE TABLE {name} (tx_id text{k} PRIMARY KEY, source_account text{k} NOT NULL, "
            f"destination_account text{k} NOT NULL, merchant_id text{k}, amount bigint NOT NULL, "
            f"event_time timestamptz NOT NULL, outcome text NOT NULL); "
            f"CREATE INDEX ON {name} (source_account, event_time DESC); "
            f"CREATE INDEX ON {name} (destination_account, event_time DESC); "
            f"CREATE INDEX ON {name} (merchant_id, event_time) WHERE merchant_id IS NOT NULL")

def rows():
    rnd = random.Random(7)
    seq = {}
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    ledger, report = [], []
    for i in range(N):
        tx = f"tx-11-3f2a9c1b-{i}"
        src, dst = (f"acc-{rnd.randrange(1, 100_001):08d}" for _ in range(2))
        t = t0 + dt.timedelta(milliseconds=i * 7)
        for acc, d in ((src, "D"), (dst, "C")):
            seq[acc] = seq.get(acc, 0) + 1
            ledger.append((f"{tx}:{d}", tx, acc, "EUR", "DEBIT" if d == "D" else "CREDIT", 100,
                           1000, seq[acc], "0" * 64, f"{rnd.getrandbits(256):064x}", t, t))
        report.append((tx, src, dst, f"m-{rnd.randrange(3000):05d}" if rnd.random() < 0.5 else None,
                       100, t, "APPROVE"))
    return ledger, report

LEDGER_COLS = ["posting_id", "tx_id", "account", "currency", "direction", "amount", "balance_after",
               "account_seq", "prev_hash", "hash", "event_time", "posted_at"]
REPORT_COLS = ["tx_id", "source_account", "destination_account", "merchant_id", "amount",
               "event_time", "outcome"]

async def main():
    settings = load_settings()
    pg = stack_pids()["postgres"]
    ledger, report = rows()
    db = await asyncpg.connect(settings.database_url)
    await db.execute("CREATE SCHEMA IF NOT EXISTS collate_probe; SET search_path = collate_probe")
    print(await db.fetchval("SELECT datcollate FROM pg_database WHERE datname = current_database()"))
    for r in range(1, ROUNDS + 1):
        for c in (False, True):
            await db.execute("DROP TABLE IF EXISTS l, r")
            await db.execute(ledger_ddl("l", c)); await db.execute(report_ddl("r", c))
            await asyncio.sleep(1)
            s0 = tree_cpu_s(pg)
            for table, data, cols in (("l", ledger, LEDGER_COLS), ("r", report, REPORT_COLS)):
                for start in range(0, len(data), BATCH):
                    async with db.transaction():
                        await db.copy_records_to_table(table, records=data[start:start + BATCH],
                                                       columns=cols)
            s = tree_cpu_s(pg) - s0
            print(f"round {r} {'C    ' if c else 'C.UTF8'}: {s:.2f} s server CPU, "
                  f"{s / N * 1e6:.1f} µs per transaction (2 ledger rows + 1 report row)", flush=True)
    await db.execute("DROP SCHEMA collate_probe CASCADE")
    await db.close()

asyncio.run(main())
