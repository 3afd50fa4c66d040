import asyncio, time, random
import asyncpg
from streams.settings import Settings
from sinks.db import epoch_ms_timestamps
Q9 = """SELECT count(*) FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::bigint[], $8::double precision[], $9::bigint[])"""
QR = "SELECT count(*) FROM unnest($1::pg_temp.rollrow[])"
async def main():
    s = Settings()
    c = await asyncpg.connect(s.database_url)
    await epoch_ms_timestamps(c)
    await c.execute("CREATE TYPE pg_temp.rollrow AS (bucket timestamptz, currency char(3), outcome text, country char(2), merchant_category text, tx_count bigint, amount_sum bigint, score_sum double precision, latency_ms_sum bigint)")
    rng = random.Random(1)
    rows = [(1764672000000 + 60000 * rng.randrange(5000), "EUR", "APPROVE", "DE", "5411", rng.randrange(1, 5), rng.randrange(10**6), rng.random(), rng.randrange(1000)) for _ in range(4900)]
    cols = [list(c_) for c_ in zip(*rows)]
    pid = c.get_server_pid()
    def srv():
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / 100
    for rnd in range(3):
        s0 = srv()
        t0 = time.process_time()
        for _ in range(20): await c.fetchval(Q9, *cols)
        s1 = srv()
        for _ in range(20): await c.fetchval(QR, rows)
        s2 = srv()
        print(f"server: 9 arrays {(s1-s0)/20/5000*1e6:.2f}, composite {(s2-s1)/20/5000*1e6:.2f} µs/decision")
        t0 = time.process_time()
        for _ in range(20): await c.fetchval(Q9, *cols)
        a = (time.process_time() - t0) / 20 / 5000 * 1e6
        t0 = time.process_time()
        for _ in range(20): await c.fetchval(QR, rows)
        b = (time.process_time() - t0) / 20 / 5000 * 1e6
        print(f"9 arrays {a:.2f} µs/decision, composite array {b:.2f}")
asyncio.run(main())
