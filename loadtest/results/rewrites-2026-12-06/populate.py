"""A dataset shaped like the bench's at its fixed phase (keykinds.py): 313k tx records, 105k
accounts, 66k fan-in sets and payments-per-day hashes, under ps:rwtest."""
import os, random, redis
r = redis.Redis(port=16379)
p = r.pipeline(transaction=False)
n = 0
def flush():
    global p
    p.execute(); p = r.pipeline(transaction=False)
for i in range(313_000):
    p.hset(f"ps:rwtest.t:tx-{i:09d}", mapping={"h": os.urandom(12).hex(), "s": "APPROVED"})
    if i % 5000 == 0: flush()
for i in range(105_000):
    p.set(f"ps:rwtest.ac:acc-{i:08d}", b"7|" + os.urandom(random.randint(90, 250)))
    if i % 5000 == 0: flush()
for i in range(66_000):
    p.zadd(f"ps:rwtest.fi:acc-{i:08d}", {f"acc-{random.randint(0, 99999):08d}": 1796530000000 + j for j in range(random.randint(1, 12))})
    p.hset(f"ps:rwtest.pd:acc-{i:08d}", mapping={str(20790 + d): random.randint(1, 9) for d in range(random.randint(1, 4))})
    if i % 2500 == 0: flush()
flush()
print(r.dbsize())
