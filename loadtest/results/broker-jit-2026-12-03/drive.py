import sys, uuid, time
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from loadtest import warmup
from streams.producer import PRODUCER_DEFAULTS
from streams.topics import delete_topics
from loadtest.procstat import tree_cpu_s
pid=int(sys.argv[1]); windows=int(sys.argv[2]); linger=int(sys.argv[3]) if len(sys.argv)>3 else 5
b='127.0.0.1:19092'; topic=f"drive-{uuid.uuid4().hex[:6]}"
admin=AdminClient({"bootstrap.servers": b}); admin.create_topics([NewTopic(topic,12,1)])[topic].result(30)
p=Producer({**PRODUCER_DEFAULTS,"bootstrap.servers":b,"linger.ms":linger})
c=Consumer({"bootstrap.servers":b,"group.id":topic,"auto.offset.reset":"earliest"}); c.subscribe([topic])
for i in range(windows):
    t0=tree_cpu_s(pid); warmup._offer(p,c,topic); t1=tree_cpu_s(pid)
    print(f"window {i}: {(t1-t0)/(warmup.RATE_PER_S*warmup.WINDOW_S)*1e6:.1f} us/msg, {(t1-t0)/warmup.WINDOW_S*100:.0f}% core", flush=True)
p.flush(); c.close(); delete_topics(admin,[topic],timeout_s=60)
