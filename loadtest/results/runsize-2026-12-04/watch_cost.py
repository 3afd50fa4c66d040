"""What WATCH costs Redis for a batch's keys (2026-12-04): a scratch redis-server on port 16999
(`redis-server --port 16999 --bind 127.0.0.1 --save '' --appendonly no`), one WATCH of n keys
and an UNWATCH, timed from the client. Redis 7.0's watchForKey walks the client's list of
watched keys for every key it adds: quadratic in the batch's keys."""
import time

import redis

r = redis.Redis(port=16999)
for n in (500, 2000, 8000):
    keys = [f"k:{i}" for i in range(n)]
    t = time.perf_counter()
    p = r.pipeline(transaction=False)
    p.execute_command("WATCH", *keys)
    p.execute_command("UNWATCH")
    p.execute()
    print(n, round((time.perf_counter() - t) * 1000, 2), "ms")
