"""What a ledger / reporting row costs PostgreSQL to COPY in as its table grows: the floor's
method (loadtest/floor.py: binary COPY made by copy_records, 5,000 rows per transaction, into a
fresh copy of the table with the same indexes), timed per segment of SEGMENT rows, up to TOTAL.

The rows: a kept bench schema's (argv[1]), replicated with their keys made new per replica
(tx_id and posting_id get "-<k>", account_seq += k * 10**6), so the key shapes and the accounts
are the run's. usage: sizeprobe.py SCHEMA [TOTAL] [SEGMENT]
"""
import asyncio
import sys
import time
from datetime import datetime

from loadtest import floor
from loadtest.procstat import tree_cpu_s
from sinks.db import connected, copy_data
from streams.ledgerchain import to_ms
from paystream_avro import copy_records

URL = "postgresql://paystream@127.0.0.1:15432/paystream"
PG_PID = int(open("/work/main/.local/run/postgres.pid").read().split()[0])


def replicas(rows, table, total):
    k = 0
    out = []
    while len(out) < total:
        for r in rows:
            r = dict(r)
            if k:
                r["tx_id"] = f"{r['tx_id']}-{k}"
                if table == "ledger":
                    r["posting_id"] = r["tx_id"] + r["posting_id"][r["posting_id"].index(":"):]
                    r["account_seq"] += k * 10**6
            out.append(r)
            if len(out) == total:
                break
        k += 1
    return out


async def main(schema, total, segment):
    async with connected(URL, schema) as db:
        for table in ("ledger", "report_transactions"):
            rows = [{c: to_ms(v) if isinstance(v, datetime) else v for c, v in r.items()}
                    for r in await db.fetch(f"SELECT * FROM {table}")]
            records = replicas(rows, table, total)
            columns, kinds = await floor.copy_kinds(db, table)
            copy = f"probe_{table}"
            print(f"{table}: {len(rows):,} rows replicated to {len(records):,}; "
                  f"settled: {await floor.settle(db)}", flush=True)
            await db.execute(f"DROP TABLE IF EXISTS {copy}; "
                             f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL); "
                             f"ALTER TABLE {copy} SET (autovacuum_enabled = false)")
            for seg in range(0, len(records), segment):
                c0, s0 = time.process_time(), tree_cpu_s(PG_PID)
                for start in range(seg, min(seg + segment, len(records)), 5000):
                    data = copy_records(records[start:start + 5000], columns, kinds)
                    async with db.transaction():
                        await copy_data(db, copy, columns, data)
                c1, s1 = time.process_time(), tree_cpu_s(PG_PID)
                n = min(segment, len(records) - seg)
                print(f"  rows {seg:>9,}-{seg + n:>9,}: server {1e6 * (s1 - s0) / n:5.2f} "
                      f"client {1e6 * (c1 - c0) / n:5.2f} us/row", flush=True)
            await db.execute(f"DROP TABLE {copy}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3_000_000,
                     int(sys.argv[3]) if len(sys.argv) > 3 else 600_000))
