import sys
from collections import Counter
import redis
import loadtest.worker_bench as wb
orig = wb.clean_up
def counting(settings, out):
    r = redis.Redis.from_url(settings.redis_url)
    ns = "ps:" + settings.topic_prefix
    counts = Counter()
    for k in r.scan_iter(match=ns + "*", count=5000):
        counts[k.decode()[len(ns):].split(":")[0]] += 1
    print(dict(counts), file=out)
    for p in range(64):
        z = f"{ns}tx:{p}"
        if not r.exists(z):
            continue
        low = r.zrange(z, 0, 0, withscores=True)
        print(p, "zcard", r.zcard(z), "mark", r.get(f"{ns}et:{p}"), "lowest", low, file=out)
    orig(settings, out=out)
wb.clean_up = counting
sys.exit(wb.main(sys.argv[1:]))
