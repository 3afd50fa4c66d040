import time, statistics
from aiokafka.producer.message_accumulator import BatchBuilder
from agents.batch import OutputMessage
from streams.partitioning import partition_for
from streams.recordbatches import output_batches
import os
msgs=[]
for n in range(4000):
    msgs.append(OutputMessage("decisions", b"acc-%06d" % (n*7919 % 100000), os.urandom(180)))
    msgs.append(OutputMessage("postings", b"acc-%06d" % (n*7919 % 100000), os.urandom(150)))
    msgs.append(OutputMessage("postings", b"sys:fx:p%02d" % (n % 12), os.urandom(150)))
counts={"decisions":12,"postings":12}
topics={"decisions":"d","postings":"p"}
def old():
    groups={}
    for m in msgs:
        topic=topics[m.role]; count=counts[m.role]
        groups.setdefault((topic, partition_for(m.key, count)), []).append((m.key, m.value, None, m.headers or []))
    out=[]
    for k, recs in groups.items():
        b=BatchBuilder(1_000_000, 0)
        for key, value, ts, h in recs:
            b.append(key=key, value=value, timestamp=ts, headers=h)
        b.close(); b._set_producer_state(1,0,0); out.append(b._build())
    return out
def new():
    out=[]
    for role, p, b in output_batches(msgs, counts):
        b._set_producer_state(1,0,0); out.append(b._build())
    return out
for f in (old,new,old,new):
    ts=[]
    for _ in range(30):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    print(f.__name__, round(statistics.median(ts)*1e6/4000,2), "us per tx (3 messages)")
