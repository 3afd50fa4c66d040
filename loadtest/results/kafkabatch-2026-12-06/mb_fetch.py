import time, statistics, os
from aiokafka.consumer import fetcher as F
from aiokafka.structs import TopicPartition
from paystream_avro import record_batches
from streams import leanfetch
from agents.batch import InputEvent
leanfetch.register("lean")
pairs=[(b"acc-%06d" % n, os.urandom(230)) for n in range(2000)]
data=b""
off=0
for i in range(0,2000,500):
    [(_, b, c)] = record_batches(pairs[i:i+500], 1, 1_765_000_000_000, 1_000_000)
    b._set_producer_state(1,0,i); d=bytearray(b._build()); d[0:8]=off.to_bytes(8,"big"); data+=bytes(d); off+=c
def run(topic):
    pr=F.PartitionRecords(TopicPartition(topic,0), F.MemoryRecords(data), [], 0, None, None, True, F.READ_UNCOMMITTED)
    recs=list(pr)
    return [InputEvent(r.partition, r.offset, r.key, r.value, r.timestamp) for r in recs]
for t in ("aiokafka","lean","aiokafka","lean"):
    ts=[]
    for _ in range(50):
        s=time.perf_counter(); run(t); ts.append(time.perf_counter()-s)
    print(t, round(statistics.median(ts)*1e6/2000,3), "us per record (fetched + InputEvent)")
