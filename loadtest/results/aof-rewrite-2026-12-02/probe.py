import os, time, redis, uuid, secrets
r = redis.Redis(port=16379)
pid = int(open('/work/main/.local/run/redis.pid').read())
def cpu():
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return sum(int(x) for x in f[11:15]) / os.sysconf('SC_CLK_TCK')  # utime stime cutime cstime
pre = "ps:aofprobe.t:"
if r.dbsize() < 400000:
    p = r.pipeline(transaction=False)
    for i in range(500000):
        p.hset(f"{pre}{uuid.uuid4().hex[:20]}", mapping={"h": secrets.token_hex(12), "s": "APPROVED"})
        if i % 5000 == 4999: p.execute()
    for i in range(100000):
        p.set(f"ps:aofprobe.ac:acct-{i:06d}", b"3|" + os.urandom(90))
        if i % 5000 == 4999: p.execute()
    p.execute()
print("keys", r.dbsize(), r.info('memory')['used_memory_human'])
for comp in ("yes", "no", "yes", "no"):
    r.config_set("rdbcompression", comp)
    while r.info('persistence')['aof_rewrite_in_progress']: time.sleep(0.1)
    c0, t0 = cpu(), time.time()
    r.bgrewriteaof()
    time.sleep(0.05)
    while r.info('persistence')['aof_rewrite_in_progress'] or r.info('persistence')['aof_rewrite_scheduled']: time.sleep(0.02)
    time.sleep(0.3)
    base = [f for f in os.listdir('/work/main/.local/redis/appendonlydir') if 'base' in f]
    size = sum(os.path.getsize('/work/main/.local/redis/appendonlydir/' + f) for f in base)
    print(f"rdbcompression {comp}: wall {time.time()-t0:.2f} s, redis+child CPU {cpu()-c0:.2f} s, base {size/1e6:.0f} MB")
r.config_set("rdbcompression", "yes")
