"""What the device label risk adds: a model trained without device entries (`train-nodev
FOLDER`), and per-scenario recall at matched false-positive rates of models replayed with or
without device entries (`compare SEED COUNT FOLDER:dev|nodev ...`)."""
import sys
from pathlib import Path

import numpy as np

from agents.fraud import labelrisk, train
from agents.fraud.assess import Assessor
from agents.fraud.labelrisk import DAY_MS, DEVICE_PREFIX, LabelRiskMemory, reported_after
from agents.fraud.model import FixedModels, load_model
from agents.fraud.replay import replay
from agents.rules import load_rules
from streams.generator import GeneratorConfig, TrafficGenerator


def without_devices(items, delay_ms):  # type: ignore[no-untyped-def]
    return [(name, e) for name, e in reported_after(items, delay_ms)
            if not name.startswith(DEVICE_PREFIX)]


if sys.argv[1] == "train-nodev":
    train.reported_after = without_devices  # the only change: device sets stay empty
    options = train.TrainingOptions(GeneratorConfig(seed=1, accounts=10_000, fraud_share=0.02))
    result = train.train(options, load_rules(None), Path(sys.argv[2]))
    print(result.folder, result.chosen, result.holdout["pr_auc"])
    sys.exit(0)

seed, count = int(sys.argv[2]), int(sys.argv[3])
items = list(TrafficGenerator(GeneratorConfig(seed=seed, accounts=10_000, fraud_share=0.02)).generate(count))
pairs = [(t, l.is_fraud) for t, l in items]
rules = load_rules(None)
runs = {}
for spec in sys.argv[4:]:
    folder, kind = spec.split(":")
    known = reported_after(pairs, DAY_MS) if kind == "dev" else without_devices(pairs, DAY_MS)
    runs[spec] = replay(items, Assessor(rules, FixedModels(load_model(Path(folder)))),
                        label_risk=LabelRiskMemory(known))
print(f"### seed {seed}, {count:,} transactions, 2% fraud, labels a day late")
for target in (0.005, 0.009):
    print(f"== at FPR {target}")
    for spec, r in runs.items():
        s, y = np.asarray(r.scores), np.asarray(r.is_fraud)
        rf, sc = np.asarray(r.rule_flagged), np.asarray(r.scenarios)
        legit = ~y
        budget = int(target * legit.sum()) - int((rf & legit).sum())
        cand = np.sort(s[legit & ~rf])[::-1]
        th = cand[budget] if 0 <= budget < len(cand) else 1.0
        flag = rf | (s > th)
        out = {n: f"{flag[sc == n].mean():.3f} of {(sc == n).sum()}" for n in sorted(set(sc)) if n != "legit"}
        print(f"{spec:32s} fpr={flag[legit].mean():.4f} recall={flag[y].mean():.3f} {out}")
