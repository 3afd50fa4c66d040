"""The compiled profile walk against the numpy rounds it replaced (features_numpy.py, a frozen
copy of agents/fraud/features.py at 6b4cc43), on generated traffic in batches, profiles carried."""
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])  # the directory holding features_numpy.py
import features_numpy as ref
from agents.fraud import features as new
from agents.fraud.fanin import Payment, Seen, fan_in
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.records import TransactionType

B = 4000
gen = TrafficGenerator(GeneratorConfig(seed=7))
txs = [t for t, _ in gen.generate(300_000) if t.type is not TransactionType.DEPOSIT]
batches = [txs[i:i + B] for i in range(0, len(txs), B)]
pa, pb = {}, {}
cells = equal = 0
worst = 0.0
prof_words = prof_equal = 0
ta = tb = 0.0
for b in batches:
    fan = fan_in([Payment.of(t) for t in b], [Seen(0, -1)] * len(b))
    t0 = time.perf_counter(); ra, na = ref.extract(b, pa, fan, {}, {}); t1 = time.perf_counter()
    rb, nb = new.extract(b, pb, fan, {}, {}); t2 = time.perf_counter()
    ta += t1 - t0; tb += t2 - t1
    cells += ra.size; equal += int((ra == rb).sum())
    diff = np.abs(ra.astype(np.float64) - rb) / np.maximum(np.abs(ra.astype(np.float64)), 1e-30)
    worst = max(worst, float(diff[ra != rb].max(initial=0.0)))
    assert list(na) == list(nb)
    for k in na:
        wa = np.frombuffer(na[k], np.uint32); wb = np.frombuffer(nb[k], np.uint32)
        prof_words += wa.size; prof_equal += int((wa == wb).sum())
    pa.update(na); pb.update(nb)
    # carry the numpy profiles into both, so a 1-ulp difference does not compound
    pb.update(na)
n = sum(len(b) for b in batches)
print(f"{n} payments in {len(batches)} batches of {B}: feature cells equal {equal}/{cells} "
      f"({equal / cells:.6%}), worst relative difference {worst:.3g}; profile words equal "
      f"{prof_equal}/{prof_words}")
print(f"numpy {ta / n * 1e6:.2f} us/payment, compiled {tb / n * 1e6:.2f} us/payment")
