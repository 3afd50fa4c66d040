import os, sys, time, uuid
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from streams.producer import PRODUCER_DEFAULTS
BOOT = "127.0.0.1:" + os.environ.get("KPORT", "19092")
kpid = int(open(".local/run/kafka.pid").read())
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
topics = [f"exp-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
a = AdminClient({"bootstrap.servers": BOOT})
for f in a.create_topics([NewTopic(t, 12, 1) for t in topics]).values(): f.result()
p = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": BOOT, "linger.ms": 5, "delivery.report.only.error": True})
val = b"x" * 180
def run(rate, every_s, secs=12):
    n_per = int(rate * every_s); t0 = time.monotonic(); c0 = cpu(kpid); sent = 0; k = 0
    nxt = t0
    while time.monotonic() - t0 < secs:
        for i in range(n_per):
            k += 1
            for t in topics: p.produce(t, val, str(k).encode())
        p.flush(30); sent += n_per
        nxt += every_s; d = nxt - time.monotonic()
        if d > 0: time.sleep(d)
    el = time.monotonic() - t0; c = cpu(kpid) - c0
    print(f"rate={rate}/s flush every {every_s*1000:.0f} ms: broker {c/el:.3f} cores, {1e6*c/sent:.1f} us per tx ({sent} tx x3 msgs)", flush=True)
run(2000, 0.5, 5)  # warm
for every in (0.07, 0.5, 0.07, 0.5):
    run(2000, every)
for f in a.delete_topics(topics).values(): f.result()
