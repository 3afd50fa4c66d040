"""The node-pair layout of agents/fraud/trees.py against the four arrays it replaced, on the same
generated rows: identical numbers (and to predict_proba), then µs per row (median of 7).

    mkdir -p /tmp/tp && git show 5c1dcd0:agents/fraud/trees.py > /tmp/tp/oldtrees.py
    cp agents/fraud/trees.py /tmp/tp/newtrees.py
    PYTHONPATH=/tmp/tp:. .venv/bin/python loadtest/results/fraud-trees-2026-12-05/pair.py [MODELS_DIR]
"""
import time, sys
import numpy as np
from pathlib import Path
import oldtrees, newtrees
from agents.fraud.model import ModelRegistry, LATEST
from loadtest.fraud_bench import TrafficGenerator, GeneratorConfig, TransactionType
from agents.fraud.fanin import FanInMemory, Payment, fan_in
from agents.fraud.features import extract
model = ModelRegistry(Path(sys.argv[1] if len(sys.argv) > 1 else 'models'), LATEST).active()
new = newtrees.CompiledTrees.of(model.estimator); old = oldtrees.CompiledTrees.of(model.estimator)
print("nodes", len(new.nodes)//2, "depth", new.depth, "trees", len(new.starts))
paying = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=99, fraud_share=0.02)).generate(40000) if t.type is not TransactionType.DEPOSIT]
profiles = {}; fans = FanInMemory(); allrows=[]
for i in range(0, len(paying), 1000):
    batch = paying[i:i+1000]; payments=[Payment.of(t) for t in batch]
    rows, nw = extract(batch, profiles, fan_in(payments, fans.lookup(payments)))
    profiles.update(nw); fans.apply(payments); allrows.append(rows)
rows = np.ascontiguousarray(np.concatenate(allrows[len(allrows)//2:]), dtype=np.float64)
r2 = rows[:500].copy(); r2[::3, 5] = np.nan; r2[::7, 11] = np.nan; r2[::5, 2] = np.nan
for r in (rows, rows[:7], rows[:1003], r2, rows[:1]):
    assert np.array_equal(new.fraud_probability(r), old.fraud_probability(r))
    assert np.array_equal(new.fraud_probability(r), model.estimator.predict_proba(r)[:, 1])
vals = rows[1000].copy(); vals[3] = np.nan
for r in (rows[:50], r2[:40]):
    assert np.array_equal(new.probe_probability(r, vals), old.probe_probability(r, vals))
print(f"identical to the current loop and to predict_proba on {len(rows)} generated rows; probes identical")
def t(f, r, reps, *a):
    out = []
    for _ in range(7):
        s = time.process_time()
        for _ in range(reps): f(r, *a)
        out.append((time.process_time() - s) / reps / len(r) * 1e6)
    return sorted(out)[3]
print("rows per call | current (µs/row) | node pairs | ratio")
for bs in (2000, 1000, 300, 20):
    r = rows[:bs]; reps = max(1, 30000 // bs)
    a, b = t(old.fraud_probability, r, reps), t(new.fraud_probability, r, reps)
    print(f"{bs} | {a:.2f} | {b:.2f} | {a/b:.2f}x")
r = rows[:300]; v = rows[2000]
a, b = t(old.probe_probability, r, 20, v), t(new.probe_probability, r, 20, v)
print(f"probes 300 | {a:.2f} | {b:.2f} | {a/b:.2f}x")
