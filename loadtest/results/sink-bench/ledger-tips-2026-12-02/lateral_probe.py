import asyncio, time, random
import asyncpg
from streams.settings import Settings
Q = ("SELECT a.account, t.account_seq, t.hash FROM unnest($1::text[]) AS a(account) "
     "CROSS JOIN LATERAL (SELECT account_seq, hash FROM tl l WHERE l.account = "
     "a.account ORDER BY account_seq DESC LIMIT 1) t")
ACC = int(__import__("sys").argv[1])
async def main():
    s = Settings()
    c = await asyncpg.connect(s.database_url)
    await c.execute("CREATE TEMP TABLE tl (account text, account_seq bigint, hash text, pad text, UNIQUE (account, account_seq))")
    rows = [(f"acc-{a:06d}", q, "%064x" % (a * 31 + q), "x" * 150) for a in range(ACC) for q in range(1, 7)]
    await c.copy_records_to_table("tl", records=rows)
    await c.execute("ANALYZE tl")
    pid = c.get_server_pid()
    def srv():
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / 100
    rng = random.Random(3)
    for rnd in range(3):
        batches = [[f"acc-{rng.randrange(ACC):06d}" for _ in range(5000)] for _ in range(20)]
        s0, c0 = srv(), time.process_time()
        for b in batches:
            r = await c.fetch(Q, list(set(b)))
            tips = {x["account"]: (x["account_seq"], x["hash"]) for x in r}
        print(f"tips: server {(srv()-s0)/20/5000*1e6:.2f} client {(time.process_time()-c0)/20/5000*1e6:.2f} µs per posting")
asyncio.run(main())
