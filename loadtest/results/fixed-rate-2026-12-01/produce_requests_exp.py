"""Broker CPU per transaction's outputs: confluent-kafka (one ProduceRequest per partition) vs
aiokafka send_batch (one request per broker carrying every ready partition). Outputs of a
100 ms batch of `rate/10` transactions, 3 messages each over 12 partitions of 3 topics."""
import asyncio
import os
import random
import sys
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

BOOT = "127.0.0.1:19092"
KPID = int(Path("/work/main/.local/run/kafka.pid").read_text())
HZ = os.sysconf("SC_CLK_TCK")
def kcpu():
    s = Path(f"/proc/{KPID}/stat").read_text(); r = s[s.rfind(")")+2:].split()
    return (int(r[11]) + int(r[12])) / HZ
def pcpu(): t = os.times(); return t.user + t.system
mode, rate, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prefix = f"preq-{mode}-{int(time.time())}"
topics = [f"{prefix}.{n}" for n in ("decisions", "postings", "credits")]
ADMIN = AdminClient({"bootstrap.servers": BOOT})
for f in ADMIN.create_topics([NewTopic(t, 12, 1) for t in topics]).values(): f.result()
from confluent_kafka import Consumer

_c = Consumer({"bootstrap.servers": BOOT, "group.id": "preq"})
while True:
    md = _c.list_topics(timeout=5).topics
    if all(t in md and len(md[t].partitions) == 12 and all(p.leader >= 0 for p in md[t].partitions.values()) for t in topics): break
    time.sleep(0.2)
_c.close(); time.sleep(1)
value = os.urandom(180)
per_batch = rate // 10
def batch_msgs():
    return [(topics[i % 3], random.randrange(12), value) for i in range(per_batch * 3)]
async def run_aiokafka():
    from aiokafka import AIOKafkaProducer
    p = AIOKafkaProducer(bootstrap_servers=BOOT, acks="all", enable_idempotence=True,
                         compression_type="lz4", linger_ms=5, max_batch_size=1_000_000)
    await p.start()
    await asyncio.sleep(1)
    k0, c0, t0 = kcpu(), pcpu(), time.monotonic(); n = 0
    while time.monotonic() - t0 < secs:
        start = time.monotonic()
        groups = {}
        for topic, part, v in batch_msgs():
            b = groups.get((topic, part))
            if b is None: b = groups[(topic, part)] = p.create_batch()
            b.append(key=None, value=v, timestamp=None)
        futs = [await p.send_batch(b, t, partition=pt) for (t, pt), b in groups.items()]
        await asyncio.gather(*futs); n += per_batch
        await asyncio.sleep(max(0, 0.1 - (time.monotonic() - start)))
    await p.stop()
    return k0, c0, t0, n
def run_confluent():
    p = Producer({"bootstrap.servers": BOOT, "enable.idempotence": True, "acks": "all",
                  "compression.type": "lz4", "linger.ms": 5, "batch.size": 1_000_000})
    p.flush(5)
    time.sleep(1)
    k0, c0, t0 = kcpu(), pcpu(), time.monotonic(); n = 0
    while time.monotonic() - t0 < secs:
        start = time.monotonic()
        for topic, part, v in batch_msgs():
            p.produce(topic, v, partition=part)
        p.flush(30); n += per_batch
        time.sleep(max(0, 0.1 - (time.monotonic() - start)))
    return k0, c0, t0, n
k0, c0, t0, n = asyncio.run(run_aiokafka()) if mode == "aiokafka" else run_confluent()
k1, c1, t1 = kcpu(), pcpu(), time.monotonic()
print(f"{mode}: {n} tx in {t1-t0:.1f}s; broker {(k1-k0)/n*1e6:.1f} us/tx ({(k1-k0)/(t1-t0):.3f} cores); client {(c1-c0)/n*1e6:.1f} us/tx")
AdminClient({"bootstrap.servers": BOOT}).delete_topics(topics)
