import asyncio, time, os
import asyncpg
from streams.ledgerchain import to_datetime
from streams.settings import Settings
US_2000 = 946_684_800_000_000
async def main():
    s = Settings()
    url = s.database_url
    a = await asyncpg.connect(url); b = await asyncpg.connect(url)
    await b.set_type_codec("timestamptz", schema="pg_catalog", format="tuple",
        encoder=lambda ms: (ms * 1000 - US_2000,), decoder=lambda t: t)
    for c in (a, b):
        await c.execute("CREATE TEMP TABLE t (id text, a bigint, e timestamptz, p timestamptz)")
    ms = [1764672000000 + i for i in range(5000)]
    for rnd in range(3):
        for name, c, conv in (("datetime", a, to_datetime), ("int codec", b, None)):
            t0 = time.process_time()
            for _ in range(10):
                if conv:
                    rows = [(f"id{i}", i, conv(m), conv(m + 100)) for i, m in enumerate(ms)]
                else:
                    rows = [(f"id{i}", i, m, m + 100) for i, m in enumerate(ms)]
                await c.copy_records_to_table("t", records=rows)
                await c.execute("TRUNCATE t")
            dt = time.process_time() - t0
            print(rnd, name, f"{dt/50000*1e6:.2f} µs/row client CPU")
    r = await b.fetchrow("SELECT now() AS n"); print(r)
asyncio.run(main())
