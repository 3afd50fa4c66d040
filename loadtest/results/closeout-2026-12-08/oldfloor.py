"""A kept bench run's PostgreSQL floor both ways, in the same minutes right after it: each
table's first 600,000 rows scaled up to the run's rows (the floor's method, kept) and the
max-rate phase's rows (f717036's, reverted), PG_REPEATS copies each, alternated (f2; f1's run
of it took the sample's three first), the speed probe around each. Then the run is cleaned up
as the bench would have. It calls `floor._copy_data`, which only f717036's loadtest/floor.py
has: run it from a worktree of that commit. usage: oldfloor.py RUN_ID MAX_RATE_TRANSACTIONS"""
import asyncio
import os
import sys

RUN_ID, MAX_TX = sys.argv[1], int(sys.argv[2])
os.environ["PAYSTREAM_TOPIC_PREFIX"] = f"bench-{RUN_ID}."
os.environ["PAYSTREAM_DB_SCHEMA"] = f"bench_{RUN_ID.replace('-', '_')}"

from loadtest import floor  # noqa: E402
from loadtest.bench import clean_up  # noqa: E402
from loadtest.procstat import tree_cpu_s  # noqa: E402
from sinks.db import connected  # noqa: E402
from streams.settings import load_settings  # noqa: E402

PG_PID = int(open("/work/main/.local/run/postgres.pid").read().split()[0])


async def main(settings):
    from loadtest import speed

    async with connected(settings.database_url, settings.db_schema) as db:
        report = int(await db.fetchval("SELECT count(*) FROM report_transactions"))
        totals = {t: int(await db.fetchval(f"SELECT count(*) FROM {t}"))
                  for t in floor.FLOOR_TABLES}
        methods = {}
        for name, limits in (("first 600,000 (until 2026-12-08)",
                              {t: min(600_000, n) for t, n in totals.items()}),
                             ("the max-rate phase's rows (since)",
                              {t: round(n * MAX_TX / report) for t, n in totals.items()})):
            tables = []
            made = 0.0
            for t in floor.FLOOR_TABLES:
                columns, chunks, copied, m = await floor._copy_data(db, t, limits[t])
                made += m * totals[t] / copied
                tables.append((t, totals[t] / copied, columns, chunks))
            methods[name] = (limits, made, tables, [])
        # alternated (ABABAB), the speed probe around each: the machine drifts within minutes
        for _ in range(floor.PG_REPEATS):
            for name, (limits, made, tables, measured) in methods.items():
                await floor.settle(db)
                before = speed.probe_us()
                c, s = await floor._copy_once(db, tables, lambda: tree_cpu_s(PG_PID) or 0.0)
                after = speed.probe_us()
                measured.append(((c + made) * 1e6 / report + s * 1e6 / report, before, after))
        for name, (limits, made, tables, measured) in methods.items():
            print(f"{name}: " + ", ".join(f"{x:.1f} (probe {b:.0f}/{a:.0f})"
                                          for x, b, a in measured)
                  + f" us/tx (lowest {min(x for x, _, _ in measured):.1f}); rows {limits}",
                  flush=True)


settings = load_settings()
asyncio.run(main(settings))
clean_up(settings)
