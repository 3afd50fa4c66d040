"""Broker CPU per transaction of the load generator's two ways of replaying, alternated.

python probe.py ENCODED_FILE PREFIX RATE SECONDS ROUNDS"""
import asyncio, json, os, sys, time
from pathlib import Path
sys.path.insert(0, "/work/main")
from streams.settings import load_settings
from streams.producer import TransactionProducer, publish, read_encoded
from streams.replay import publish_encoded

path, prefix, rate, seconds, rounds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
settings = load_settings().model_copy(update={"topic_prefix": prefix})
kafka_pid = int(open("/work/main/.local/run/kafka.pid").read())
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
count = int(rate * seconds)
def records():
    it = read_encoded(path)
    return (r for _, r in zip(range(count), it))
for i in range(rounds):
    for mode in ("librdkafka", "aiokafka"):
        b0, t0 = cpu(kafka_pid), time.monotonic()
        if mode == "librdkafka":
            report = publish(TransactionProducer.from_settings(settings), records(), rate=rate)
        else:
            report = asyncio.run(publish_encoded(settings, records(), rate))
        b1, t1 = cpu(kafka_pid), time.monotonic()
        print(json.dumps({"mode": mode, "sent": report.sent, "elapsed_s": round(t1 - t0, 2),
                          "broker_us_per_tx": round((b1 - b0) * 1e6 / report.sent, 1),
                          "client_us_per_tx": round(report.cpu_us_per_message, 1)}), flush=True)
        time.sleep(3)
