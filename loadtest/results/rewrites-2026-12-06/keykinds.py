import redis, collections, re
r = redis.Redis(port=16999)
cnt = collections.Counter(); mem = collections.Counter()
n = 0
for key in r.scan_iter(count=5000):
    m = re.match(rb'ps:[^:]*?(ac|t|tx|et|holds|ob|fi|pd|lr|id|layout):', key) or re.match(rb'ps:[^:]*?(layout)', key)
    k = m.group(1).decode() if m else key[:20].decode(errors='replace')
    cnt[k] += 1
    n += 1
    if n % 50 == 0:
        mem[k] += 50 * (r.memory_usage(key) or 0)
print(n)
for k, c in cnt.most_common(): print(k, c, round(mem[k]/1e6,1), 'MB est')
