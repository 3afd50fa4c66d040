"""The six-row tree walk against the one-row walk it replaced, on the same generated rows.

    git show d01da10:agents/fraud/trees.py > /tmp/oldtrees.py
    PYTHONPATH=/tmp:. .venv/bin/python loadtest/results/fraud-trees-2026-12-02/pair.py
"""
import time
import numpy as np
from pathlib import Path
import oldtrees
from agents.fraud.trees import CompiledTrees
from agents.fraud.model import ModelRegistry, LATEST
from loadtest.fraud_bench import TrafficGenerator, GeneratorConfig, TransactionType
from agents.fraud.fanin import FanInMemory, Payment, fan_in
from agents.fraud.features import extract
model = ModelRegistry(Path('/work/main/models'), LATEST).active()
new = CompiledTrees.of(model.estimator); old = oldtrees.CompiledTrees.of(model.estimator)
paying = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=99, fraud_share=0.02)).generate(40000) if t.type is not TransactionType.DEPOSIT]
profiles = {}; fans = FanInMemory(); allrows=[]
for i in range(0, len(paying), 1000):
    batch = paying[i:i+1000]; payments=[Payment.of(t) for t in batch]
    rows, nw = extract(batch, profiles, fan_in(payments, fans.lookup(payments)))
    profiles.update(nw); fans.apply(payments); allrows.append(rows)
rows = np.ascontiguousarray(np.concatenate(allrows[len(allrows)//2:]), dtype=np.float64)
r2 = rows[:500].copy(); r2[::3, 5] = np.nan; r2[::7, 11] = np.nan
for r in (rows, rows[:7], rows[:1003], r2):
    assert np.array_equal(new.fraud_probability(r), old.fraud_probability(r))
    assert np.array_equal(new.fraud_probability(r), model.estimator.predict_proba(r)[:, 1])
print(f"identical to the old loop and to predict_proba on {len(rows)} generated rows")
def t(f, r, reps):
    out = []
    for _ in range(7):
        s = time.process_time()
        for _ in range(reps): f(r)
        out.append((time.process_time() - s) / reps / len(r) * 1e6)
    return sorted(out)[3]
print("rows per call | one row at a time (µs/row) | six at a time | ratio")
for bs in (1000, 300, 100, 20):
    r = rows[:bs]; reps = max(1, 30000 // bs)
    a, b = t(old.fraud_probability, r, reps), t(new.fraud_probability, r, reps)
    print(f"{bs} | {a:.2f} | {b:.2f} | {a/b:.2f}x")
print(type(model), model.compiled is not None, allrows[0].dtype, allrows[0].flags['C_CONTIGUOUS'])
r = allrows[-1]
print("model.score", t(model.score, r, 30), "direct", t(new.fraud_probability, r, 30), len(r))
