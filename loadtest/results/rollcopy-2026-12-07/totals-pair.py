# usage: totals-pair.py DIR: time DecisionRows.rollup_copies and minute_sums of the paystream_avro.so in DIR (see totals-pair.txt)
import random, sys, time
sys.path.insert(0, sys.argv[1])
import paystream_avro
assert paystream_avro.__file__.startswith(sys.argv[1]), paystream_avro.__file__
from paystream_avro import DecisionRows
sys.path.insert(1, '/work/main')
from tests.unit.test_report_rows import decision
rng=random.Random(1); T0=1_767_225_600_000
cats=[None]+[str(5000+i) for i in range(40)]
batch=[]
for i in range(5000):
    d=decision(i,rng); d['event_time']=T0+i*620; d['merchant_category']=rng.choice(cats); d['country']=rng.choice(['DE','FR','US','GB','NL','ES','IT','PL']); batch.append(d)
rows=DecisionRows.from_records(batch)
W=[60_000, 3_600_000, 86_400_000]
best={}
for name,fn in [('rollup_copies',lambda: rows.rollup_copies(W)),('minute_sums',lambda: rows.minute_sums())]:
    ts=[]
    for _ in range(5):
        t=time.perf_counter()
        for _ in range(20): fn()
        ts.append((time.perf_counter()-t)/20*1e6/5000)
    best[name]=sorted(ts)[2]
copies=rows.rollup_copies(W); print(sys.argv[1].split('/')[-1], ' '.join(f"{k} {v:.3f}" for k,v in best.items()), hash(tuple(copies)), hash(tuple(rows.minute_sums())))
