import sys, collections
from confluent_kafka import Consumer, TopicPartition
from streams.codec import codec_for
codec = codec_for("transaction", "probe-pack.transactions", None)
c = Consumer({"bootstrap.servers": "127.0.0.1:19092", "group.id": "probe-mix", "enable.auto.commit": False})
c.assign([TopicPartition("probe-pack.transactions", 0, 0)])
chunk = 5000; n = 0; stats = collections.Counter(); seen_src=set(); seen_dst=set()
keys=None
while True:
    msgs = c.consume(1000, timeout=3)
    if not msgs: break
    for m in msgs:
        r = codec.decode(m.value())
        if keys is None: print(sorted(r.keys())); print(r)
        n += 1
        stats["dst_known"] += r.get("destination_account","") in seen_src
        stats["new_src"] += r["source_account"] not in seen_src
        seen_src.add(r["source_account"])
        stats[str(r.get("type", r.get("kind")))]+=1
        keys = 1
        if n % chunk == 0:
            print(n*12, dict(stats), "ts", r.get("event_time", r.get("timestamp")))
            stats.clear()
