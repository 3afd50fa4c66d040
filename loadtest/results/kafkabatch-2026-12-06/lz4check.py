import asyncio, uuid
from confluent_kafka import Producer
from aiokafka import AIOKafkaConsumer
from streams import leanfetch
from streams.producer import PRODUCER_DEFAULTS
topic = "lz4check-" + uuid.uuid4().hex[:6]
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
p = Producer({**{k: v for k, v in PRODUCER_DEFAULTS.items() if k in ("compression.type", "linger.ms", "partitioner")}, "bootstrap.servers": "127.0.0.1:19092"})
for i in range(1000): p.produce(topic, key=b"k%d" % i, value=b"v" * 100)
p.flush()
leanfetch.register(topic)
async def main():
    c = AIOKafkaConsumer(topic, bootstrap_servers="127.0.0.1:19092", auto_offset_reset="earliest", group_id=None)
    await c.start()
    got = await c.getmany(timeout_ms=5000)
    recs = [r for rs in got.values() for r in rs]
    print(len(recs), {type(r).__name__ for r in recs})
    await c.stop()
asyncio.run(main())
