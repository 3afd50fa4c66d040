"""What the commit's per-account version check costs Redis, against a fence per partition
(docs/benchmarks.md 2026-12-05 mid-morning: the design a commit without the check would need),
on a scratch redis-server (port 16999; AOF with appendfsync always, as the stack's). A batch of
2,400 dirty accounts of 50,000 (~290-byte values, as after 900k transactions) is written by a
script that MGETs them all and compares each one's version (agents/commit.lua's accounts
section), or by one that compares one fence key; both then MSET the values. Redis's CPU per
account, three rounds alternated."""

import os
import random

import redis

r = redis.Redis(port=16999)
r.flushall()
ACCOUNTS, BATCH, BATCHES = 50_000, 2_400, 60
KEY = "ps:x.ac:acc-{:08d}"


def value(version: int) -> bytes:
    return b"%d|" % version + os.urandom(286)


for first in range(0, ACCOUNTS, 1000):
    r.mset({KEY.format(j): value(1) for j in range(first, first + 1000)})
version = {j: 1 for j in range(ACCOUNTS)}
VERSIONS = r.register_script("""
local n = tonumber(ARGV[1]); local ai = 2
for first = 0, n - 1, 1000 do
  local values = redis.call('MGET', unpack(KEYS, 1 + first, 1 + math.min(first + 999, n - 1)))
  for j = 1, #values do
    local i = first + j - 1
    local seen = values[j] and string.match(values[j], '^(%d+)|') or '0'
    if seen ~= ARGV[ai + 2 * i] then return {'conflict', KEYS[1 + i]} end
  end
end
for first = 0, n - 1, 500 do
  local kv = {}
  for i = first, math.min(first + 499, n - 1) do
    kv[#kv + 1] = KEYS[1 + i]; kv[#kv + 1] = ARGV[ai + 2 * i + 1]
  end
  redis.call('MSET', unpack(kv))
end
return 'ok'""")
FENCE = r.register_script("""
local n = tonumber(ARGV[1])
if redis.call('GET', 'ps:x.fence:0') ~= ARGV[2] then return {'fenced'} end
for first = 0, n - 1, 500 do
  local kv = {}
  for i = first, math.min(first + 499, n - 1) do
    kv[#kv + 1] = KEYS[1 + i]; kv[#kv + 1] = ARGV[3 + i]
  end
  redis.call('MSET', unpack(kv))
end
return 'ok'""")
r.set("ps:x.fence:0", "3")
pid = int(r.info("server")["process_id"])


def cpu() -> float:
    fields = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


for rnd in range(3):
    for name in ("per-account versions", "one fence"):
        start = cpu()
        for _ in range(BATCHES):
            names = random.sample(range(ACCOUNTS), BATCH)
            keys = [KEY.format(j) for j in names]
            if name == "one fence":
                args = [BATCH, "3"]
                for j in names:
                    version[j] += 1
                    args.append(value(version[j]))
                assert FENCE(keys=keys, args=args) == b"ok"
            else:
                args = [BATCH]
                for j in names:
                    args += [str(version[j]), value(version[j] + 1)]
                    version[j] += 1
                assert VERSIONS(keys=keys, args=args) == b"ok"
        print(f"round {rnd + 1}  {name:22} {(cpu() - start) / (BATCHES * BATCH) * 1e6:.2f} µs of Redis per account")
