"""Fan-in read+commit alone: client CPU and Redis CPU per payment, for the checkout on sys.path.
usage: python fanread.py REPO [transactions] [batch]"""
import asyncio, sys, time, subprocess
from pathlib import Path
repo = sys.argv[1]; sys.path.insert(0, repo)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
B = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
from redis.asyncio import Redis
from agents.store import RedisStateStore, delete_namespace
from agents.batch import BatchResult
from agents.fraud.fanin import Payment
from streams.generator.engine import TrafficGenerator
from streams.generator.config import GeneratorConfig
import os
TICK = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK
txs = [tx for tx, _ in TrafficGenerator(GeneratorConfig(seed=21, accounts=50_000)).generate(N)]
pays = [(tx.tx_id, Payment.of(tx)) for tx in txs if tx.destination_account]
batches = [dict(pays[i:i + B]) for i in range(0, len(pays), B)]
async def main():
    r = Redis.from_url("redis://127.0.0.1:16379/0")
    pid = int((await r.info("server"))["process_id"])
    ns = f"fanprobe{os.getpid()}-"
    store = RedisStateStore(r, ns, tx_ttl_s=60, window_ms=60_000)
    rc = rr = cc = cr = 0.0
    try:
        for i, batch in enumerate(batches):
            c0, s0 = time.process_time(), cpu(pid)
            view = await store.read(set(), set(), set(), batch)
            c1, s1 = time.process_time(), cpu(pid)
            await store.commit(view, BatchResult(fan_in=list(batch.values())), "transactions", f"b{i}")
            c2, s2 = time.process_time(), cpu(pid)
            rc += c1 - c0; rr += s1 - s0; cc += c2 - c1; cr += s2 - s1
    finally:
        await delete_namespace(r, ns); await r.aclose()
    n = len(pays)
    print(f"{repo}: {n} payments, {len(batches)} batches; us/payment read client {rc/n*1e6:.2f} redis {rr/n*1e6:.2f} | commit client {cc/n*1e6:.2f} redis {cr/n*1e6:.2f} | total {(rc+rr+cc+cr)/n*1e6:.2f}")
asyncio.run(main())
