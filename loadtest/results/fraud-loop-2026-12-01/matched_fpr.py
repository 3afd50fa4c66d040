"""Per-scenario recall of several models on one generated traffic, each at the same FPR."""
import json, sys
from pathlib import Path
import numpy as np
from agents.fraud.assess import Assessor
from agents.fraud.labelrisk import DAY_MS, LabelRiskMemory, reported_after
from agents.fraud.model import FixedModels, load_model
from agents.fraud.replay import replay
from agents.rules import load_rules
from streams.generator import GeneratorConfig, TrafficGenerator
side = json.loads(Path(sys.argv[1]).read_text())
items = list(TrafficGenerator(GeneratorConfig(**side["generator"])).generate(side["count"]))
rules = load_rules(None)
runs = {}
for spec in sys.argv[2:]:
    folder, fb = spec.split(":")
    known = reported_after(((t, l.is_fraud) for t, l in items), DAY_MS) if fb == "fb" else []
    r = replay(items, Assessor(rules, FixedModels(load_model(Path(folder)))), label_risk=LabelRiskMemory(known))
    runs[spec] = r
for fpr_target in (0.005, 0.009):
    print(f"== at FPR {fpr_target}")
    for spec, r in runs.items():
        s = np.asarray(r.scores); y = np.asarray(r.is_fraud); rf = np.asarray(r.rule_flagged); sc = np.asarray(r.scenarios)
        legit = ~y; budget = int(fpr_target * legit.sum()) - int((rf & legit).sum())
        cand = np.sort(s[legit & ~rf])[::-1]
        th = cand[budget] if 0 <= budget < len(cand) else 1.0
        flag = rf | (s > th)
        out = {n: round(float(flag[sc == n].mean()), 3) for n in sorted(set(sc)) if n != "legit"}
        print(f"{spec:40s} fpr={flag[legit].mean():.4f} recall={flag[y].mean():.3f} {out}")
