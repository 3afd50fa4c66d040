"""How long Redis 7.0 takes to WATCH n keys in one command (run against the stack's Redis:
`eval "$(deploy/local/stack.sh env)"; .venv/bin/python watch_probe.py`). A commit guarded by
WATCH on every account a batch writes instead of the script's version check would WATCH ~15,000
keys a batch; each key is checked against the client's list of keys already watched."""

import os
import time

import redis

r = redis.Redis.from_url(os.environ["REDIS_URL"])
for n in (1000, 4000, 16000):
    keys = [f"probe:watch:{i}" for i in range(n)]
    started = time.perf_counter()
    r.execute_command("WATCH", *keys)
    took = time.perf_counter() - started
    r.execute_command("UNWATCH")
    print(n, f"{took * 1e3:.1f} ms", f"{took / n * 1e6:.2f} us/key")
