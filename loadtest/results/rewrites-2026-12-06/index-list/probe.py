"""The record index as a sorted set against a list, on a scratch redis-server (port 16999, no
persistence): 12 partitions' indexes of 26,000 records, then 60 batches of 330 records a
partition appended and as many pruned from the oldest end; Redis's own time per record by
command (commandstats) and each index's memory."""
import redis

r = redis.Redis(port=16999)
r.flushall()
t = 1796530000000
for p in range(12):
    pipe = r.pipeline(transaction=False)
    for i in range(0, 26000, 1000):
        pipe.zadd(f'ix:{p}', {f'tx-{p}-{i+j:09d}': t + i + j for j in range(1000)})
        pipe.rpush(f'lx:{p}', *[f'{t+i+j}|tx-{p}-{i+j:09d}' for j in range(1000)])
    pipe.execute()
r.config_resetstat()
n = 26000
for b in range(60):
    for p in range(12):
        r.zadd(f'ix:{p}', {f'tx-{p}-{n+j:09d}': t + n + j for j in range(330)})
        r.rpush(f'lx:{p}', *[f'{t+n+j}|tx-{p}-{n+j:09d}' for j in range(330)])
        old = r.zrangebyscore(f'ix:{p}', '-inf', t + n - 20000, start=0, num=330)
        if old:
            r.zremrangebyrank(f'ix:{p}', 0, len(old) - 1)
        head = r.lrange(f'lx:{p}', 0, 329)
        r.ltrim(f'lx:{p}', len(head), -1)
    n += 330
s = r.info('commandstats')
for k in ('cmdstat_zadd', 'cmdstat_rpush', 'cmdstat_zrangebyscore', 'cmdstat_zremrangebyrank',
          'cmdstat_lrange', 'cmdstat_ltrim'):
    v = s[k]
    print(k, v['calls'], round(v['usec'] / (60 * 12 * 330), 3), 'us per record')
print('memory of one index (bytes), sorted set / list:', r.memory_usage('ix:0'),
      r.memory_usage('lx:0'), 'records', r.zcard('ix:0'), r.llen('lx:0'))
