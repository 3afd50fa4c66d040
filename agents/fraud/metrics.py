"""Detection quality from scores, flags and ground truth: one shape for stream and offline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score

DAY_MS = 86_400_000


def detection_metrics(is_fraud: ArrayLike, scenarios: Sequence[str], scores: ArrayLike,
                      flagged: ArrayLike) -> dict[str, Any]:
    """Precision, recall, false-positive rate, PR-AUC and ROC AUC of the score, recall per fraud
    scenario.

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
        "roc_auc": round(float(roc_auc_score(truth, score)), 4) if 0 < fraud < len(truth) else None,
        "per_scenario": per_scenario,
    }


def threshold_for(descending: np.ndarray, budget: int) -> float:
    """A threshold that at most `budget` of these scores reach (score >= threshold flags)."""
    if budget <= 0 or len(descending) == 0:
        return 1.0 + 1e-9 if len(descending) == 0 else float(np.nextafter(descending[0], 2.0))
    if budget >= len(descending):
        return 0.0
    return float(np.nextafter(descending[budget], 2.0))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def ranking_metrics(is_fraud: Sequence[bool], scores: Sequence[float], event_ms: Sequence[int],
                    accounts: Sequence[str], fpr: float, top_k: int) -> dict[str, Any]:
    """What a fraud team gets from the score's ranking.

    recall_at_fpr: the share of fraud scoring at or above the threshold that `fpr` of the
    legitimate payments reach (the score alone, without the rules). precision_top_k: each day,
    the `top_k` accounts with the highest score that day are what investigators can review;
    the share of them with a fraudulent payment that day, averaged over the days."""
    truth = np.asarray(is_fraud, dtype=bool)
    score = np.asarray(scores, dtype=np.float64)
    legit = np.sort(score[~truth])[::-1]
    # pick_thresholds' rule (agents/fraud/train.py); with no legitimate payment, no threshold
    threshold = threshold_for(legit, int(fpr * len(legit))) if len(legit) else 0.0
    recall = _ratio(int((score[truth] >= threshold).sum()), int(truth.sum()))
    best: dict[tuple[int, str], list] = {}
    for day, account, value, fraud in zip(np.asarray(event_ms) // DAY_MS, accounts, score, truth,
                                          strict=True):
        seen = best.setdefault((int(day), account), [value, False])
        seen[0] = max(seen[0], value)
        seen[1] = seen[1] or bool(fraud)
    by_day: dict[int, list[tuple[float, bool]]] = {}
    for (day, _), (value, fraud) in best.items():
        by_day.setdefault(day, []).append((value, fraud))
    daily = [sum(f for _, f in sorted(ranked, key=lambda x: -x[0])[:top_k]) / top_k
             for ranked in by_day.values()]
    return {"recall_at_fpr": {"fpr": fpr, "recall": recall},
            "precision_top_k_accounts_per_day": {
                "k": top_k, "days": len(daily),
                "precision": round(float(np.mean(daily)), 4) if daily else None}}
