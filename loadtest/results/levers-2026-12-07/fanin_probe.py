"""The fan-in read's count, two ways, on a scratch redis-server (port 16999, no persistence):
per payment ZCOUNT key since +inf (before), or the set's ZCARD once per destination less
ZCOUNT key -inf (since (agents/fanin.lua now). Sets of SIZE members (a listpack up to 128),
their times within the last 17 h, each payment's since 24 h back: every member counts, as in
the bench's traffic. Redis's CPU per payment, three rounds."""

import os
import random
import sys

import redis

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 64
PER_DESTINATION = 1.3  # payments per destination per batch in the bench's traffic
r = redis.Redis(port=16999)
r.flushall()
N = 2000
now = 1_700_000_000_000
for d in range(N):
    r.zadd(f"fi:{d}", {f"acc-{random.randrange(10**6):08d}": now - random.randrange(17 * 3600_000)
                       for _ in range(SIZE)})
BEFORE = r.register_script("""
local c = 0
for i = 1, #KEYS do c = c + redis.call('ZCOUNT', KEYS[i], ARGV[1], '+inf') end
return c""")
NOW = r.register_script("""
local c, held = 0, {}
for i = 1, #KEYS do
  if not held[KEYS[i]] then held[KEYS[i]] = redis.call('ZCARD', KEYS[i]) end
  if held[KEYS[i]] > 0 then c = c + held[KEYS[i]] - redis.call('ZCOUNT', KEYS[i], '-inf', ARGV[1]) end
end
return c""")
# each destination paid ~1.3 times: the same key twice in a row for 30% of them
keys = [k for d in range(N) for k in [f"fi:{d}"] * (2 if d % 10 < 3 else 1)]
since = now - 86_400_000
pid = int(r.info("server")["process_id"])


def cpu() -> float:
    fields = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


print(f"sets of {r.zcard('fi:1')} ({r.object('encoding', 'fi:1').decode()}), "
      f"{len(keys) / N:.1f} payments per destination")
for rnd in range(3):
    for name, script, arg in (("before: ZCOUNT since +inf", BEFORE, since),
                              ("now: ZCARD - ZCOUNT -inf (since", NOW, f"({since}")):
        start = cpu()
        for _ in range(200):
            counted = script(keys=keys, args=[arg])
        print(f"round {rnd + 1}  {name:34} {counted}  "
              f"{(cpu() - start) / (200 * len(keys)) * 1e6:.2f} µs per payment")
