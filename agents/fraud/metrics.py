"""Detection quality from scores, flags and ground truth: one shape for stream and offline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score


def detection_metrics(is_fraud: Sequence[bool], scenarios: Sequence[str], scores: Sequence[float],
                      flagged: Sequence[bool]) -> dict[str, Any]:
    """Precision, recall, false-positive rate, PR-AUC of the score, recall per fraud scenario.

    `flagged` is what the decision said (a list, a rule or the model found risk); the PR-AUC is
    of the score alone, over every transaction.
    """
    truth = np.asarray(is_fraud, dtype=bool)
    flags = np.asarray(flagged, dtype=bool)
    score = np.asarray(scores, dtype=np.float64)
    fraud, legit = int(truth.sum()), int((~truth).sum())
    caught, false_alarms = int((truth & flags).sum()), int((~truth & flags).sum())
    per_scenario: dict[str, dict[str, Any]] = {}
    totals = Counter(s for s, f in zip(scenarios, truth, strict=True) if f)
    hits = Counter(s for s, f, g in zip(scenarios, truth, flags, strict=True) if f and g)
    for name in sorted(totals):
        per_scenario[name] = {"transactions": totals[name],
                              "recall": _ratio(hits[name], totals[name])}
    return {
        "transactions": len(truth),
        "fraud": fraud,
        "flagged": int(flags.sum()),
        "precision": _ratio(caught, caught + false_alarms),
        "recall": _ratio(caught, fraud),
        "false_positive_rate": _ratio(false_alarms, legit),
        "pr_auc": round(float(average_precision_score(truth, score)), 4) if 0 < fraud < len(truth) else None,
        "per_scenario": per_scenario,
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
