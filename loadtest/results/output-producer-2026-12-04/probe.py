"""Run from the repository root with the stack up: `python probe.py requests` (librdkafka
against aiokafka record batches) or `python probe.py` (aiokafka lz4 / snappy / none).

Broker + client CPU: the same traffic flushed every 70 ms by confluent-kafka (one
ProduceRequest per partition) and by aiokafka (one per broker)."""
import asyncio, os, sys, time, uuid
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from aiokafka import AIOKafkaProducer
from streams.producer import PRODUCER_DEFAULTS
BOOT = "127.0.0.1:19092"
kpid = int(open("/work/main/.local/run/kafka.pid").read())
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def own():
    t = os.times(); return t.user + t.system
topics = [f"exp-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
a = AdminClient({"bootstrap.servers": BOOT})
for f in a.create_topics([NewTopic(t, 12, 1) for t in topics]).values(): f.result()
time.sleep(2)
val = os.urandom(90) + b"y" * 90
RATE, EVERY, SECS = 2000, 0.07, 12

def report(name, el, broker, client, sent):
    print(f"{name:10s} flush every {EVERY*1000:.0f} ms: broker {broker/el:.3f} cores {1e6*broker/sent:6.1f} us/tx, "
          f"client {1e6*client/sent:6.1f} us/tx ({sent} tx x3 msgs)", flush=True)

def run_ck(secs=SECS):
    p = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": BOOT, "linger.ms": 5, "delivery.report.only.error": True})
    n_per = int(RATE * EVERY); t0 = time.monotonic(); c0, o0 = cpu(kpid), own(); sent = 0; k = 0; nxt = t0
    while time.monotonic() - t0 < secs:
        for i in range(n_per):
            k += 1
            key = str(k).encode()
            for t in topics: p.produce(t, val, key)
        p.flush(30); sent += n_per
        nxt += EVERY; d = nxt - time.monotonic()
        if d > 0: time.sleep(d)
    el = time.monotonic() - t0
    report("confluent", el, cpu(kpid) - c0, own() - o0, sent)

async def run_aio(secs=SECS, compression="lz4"):
    p = AIOKafkaProducer(bootstrap_servers=BOOT, enable_idempotence=True, acks="all",
                         compression_type=compression, linger_ms=0, max_batch_size=1_000_000)
    await p.start()
    try:
        n_per = int(RATE * EVERY); t0 = time.monotonic(); c0, o0 = cpu(kpid), own(); sent = 0; k = 0; nxt = t0
        while time.monotonic() - t0 < secs:
            builders = {}
            for i in range(n_per):
                k += 1
                key = str(k).encode()
                part = k % 12
                for t in topics:
                    b = builders.get((t, part))
                    if b is None:
                        b = builders[(t, part)] = p.create_batch()
                    b.append(key=key, value=VALS[(k + len(t)) % 997], timestamp=None)
            futs = [await p.send_batch(b, t, partition=part) for (t, part), b in builders.items()]
            await asyncio.gather(*futs); sent += n_per
            nxt += EVERY; d = nxt - time.monotonic()
            if d > 0: await asyncio.sleep(d)
        el = time.monotonic() - t0
        report(f"aio-{compression}", el, cpu(kpid) - c0, own() - o0, sent)
    finally:
        await p.stop()

import random
# realistic-ish Avro-like payload: repeated field names absent, but ids and amounts
def make_val():
    return (b"\xc3\x01" + os.urandom(8) + b"acc-%08d" % random.randrange(10**6) + b"acc-%08d" % random.randrange(10**6)
            + b"EUR" + os.urandom(12) + b"tx-" + uuid.uuid4().hex.encode() + b"APPROVED" + b"\x00" * 40)
VALS = [make_val() for _ in range(997)]
if sys.argv[1:] == ["requests"]:  # librdkafka against aiokafka (lz4), one value repeated
    VALS = [b"x" * 180] * 997
    asyncio.run(run_aio(4))
    for _ in range(2):
        asyncio.run(run_aio()); run_ck()
else:  # aiokafka's compressions, values varied
    for every in (0.07, 0.3):
        EVERY = every
        for comp in ("lz4", "snappy", None, "lz4", "snappy", None):
            asyncio.run(run_aio(8, comp))
for f in a.delete_topics(topics).values(): f.result()
