"""perfwindows.py: `perf script -F time,ip,sym` of a perf record (no call graphs needed) on
stdin; per 10 s window, its samples and the share of the 16 commonest leaf symbols. Used on
run.sh's PERF=1 record of the account-state Redis over a 1M run's max-rate phase."""
import collections
import sys

t = first = None
take = False
buckets: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    if line.strip().endswith(":") and not line[:1].isspace():
        t = float(line.strip()[:-1])
        first = first or t
        take = True
        continue
    if take and line.strip():
        parts = line.split(None, 1)
        buckets[int((t - first) // 10)][parts[1].strip() if len(parts) > 1 else "?"] += 1
        take = False
symbols: collections.Counter = collections.Counter()
for counts in buckets.values():
    symbols.update(counts)
top = [s for s, _ in symbols.most_common(16)]
print("s    samples " + " ".join(f"{s[:12]:>12}" for s in top))
for k in sorted(buckets):
    counts = buckets[k]
    n = sum(counts.values())
    print(f"{k * 10:3d} {n:7d} " + " ".join(f"{100 * counts[s] / n:12.1f}" for s in top))
