import time, sys, json, os
sys.path.insert(0, '/work/main')
import cavro
from streams.codec import SingleObjectCodec, load_versions, CAVRO_OPTIONS, _without_timestamp_types, SINGLE_OBJECT_HEADER_SIZE
from streams.generator import GeneratorConfig, TrafficGenerator
versions = load_versions("transaction")
codec = SingleObjectCodec(versions)
msgs = [codec.encode(t.to_record()) for t, _ in TrafficGenerator(GeneratorConfig(seed=5)).generate(5000)]
def t(f):
    best = []
    for _ in range(5):
        s = time.process_time()
        for m in msgs: f(m)
        best.append((time.process_time() - s) / len(msgs) * 1e6)
    return sorted(best)[2]
print("codec.decode", t(codec.decode))
v = versions[-1]
plain = _without_timestamp_types(json.loads(v.text))
wrap = cavro.Schema({"type": "record", "name": "wrapped", "fields": [{"name": "body", "type": plain}, {"name": "tail", "type": "bytes"}]}, options=CAVRO_OPTIONS)
nonce = os.urandom(16)
suffix = bytes([len(nonce) * 2]) + nonce  # Avro bytes: zigzag length, then the bytes
H = SINGLE_OBJECT_HEADER_SIZE
def wrapped(m):
    r = wrap.binary_read(cavro.MemoryReader(m[H:] + suffix))
    if r["tail"] != nonce: raise ValueError
    return r["body"]
assert wrapped(msgs[0]) == codec.decode(msgs[0])
print("wrapped", t(wrapped))
plain_s = v.fast
def noend(m):
    return plain_s.binary_read(cavro.MemoryReader(m[H:]))
print("no end check", t(noend))
