"""A batch's outputs built and packed for the outbox (agents/store.py encode_outputs), 4,000
transactions of 3 messages: encode (median of 15), decode, and building one OutputMessage.
`python outputs_bench.py CHECKOUT` measures that checkout's code (pairs.sh alternates two)."""
import sys
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")
import os, time, statistics
from agents.batch import OutputMessage
from agents.store import encode_outputs, decode_outputs
N=4000
msgs=[]
for n in range(N):
    msgs.append(OutputMessage("decisions", b"acc-%06d" % n, os.urandom(60)+b"x"*120))
    msgs.append(OutputMessage("postings", b"acc-%06d" % n, os.urandom(50)+b"y"*100))
    msgs.append(OutputMessage("credits", b"acc-%06d" % n, os.urandom(40)+b"z"*60))
ts=[]
for r in range(15):
    t=time.perf_counter(); blob=encode_outputs(msgs); ts.append(time.perf_counter()-t)
t=time.perf_counter(); back=decode_outputs(blob); d=time.perf_counter()-t
assert [(m.role,m.key,m.value,m.headers) for m in back]==[(m.role,m.key,m.value,m.headers) for m in msgs]
t=time.perf_counter()
for n in range(N): OutputMessage("decisions", b"k", b"v")
c=time.perf_counter()-t
print(f"encode {statistics.median(ts)/N*1e6:.3f} us/tx (3 msgs), decode {d/N*1e6:.3f}, construct {c/N*1e6:.3f} us/msg, {len(blob)} B")
