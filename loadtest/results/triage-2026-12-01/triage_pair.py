import time
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.codec import SingleObjectCodec, load_versions
from streams.partitioning import partition_for
from agents.authorizer import triage
from agents.batch import InputEvent
codec = SingleObjectCodec(load_versions("transaction"))
txs=[tx for tx,_ in TrafficGenerator(GeneratorConfig(seed=3, accounts=20000, start_ms=1_767_225_600_000)).generate(20000)]
events=[InputEvent(partition_for(t.partition_key,12), i, t.partition_key.encode(), codec.encode(t.to_record()), 0) for i,t in enumerate(txs)]
now=1_767_225_600_000+400*86400000
r=[]
for _ in range(7):
    t=time.process_time(); v,d=triage(events, codec, now, 3600000, 12); r.append(time.process_time()-t)
assert len(v)==len(events), len(d)
print(f"{min(r)*1e6/len(events):.2f}")
