"""Active against shadow on live traffic: what promoting the shadow would change. Pure.

Rows are the decision records of the transactions both models scored (the reporting store
keeps them), with the fraud labels received so far. A model flags a payment when its score
reaches its own REVIEW threshold (from its manifest): the flags compared are the models', not
the decisions', which also carry the rules. Where labels have arrived, each model's ranking is
judged on them, counting a transaction without a fraud label as legitimate: early on, most
fraud is not labelled yet, so these figures are a floor and move as chargebacks come in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


@dataclass(frozen=True)
class Scored:
    score: float
    shadow_score: float
    version: str
    shadow_version: str
    labelled_fraud: bool


def compare(rows: Sequence[Scored], review_threshold: dict[str, float]) -> dict[str, Any]:
    """Per side: versions, score quantiles, flag rate, and on the labels so far, precision,
    recall, average precision and ROC AUC; then how often they agree."""
    if not rows:
        return {"transactions": 0}
    fraud = np.asarray([r.labelled_fraud for r in rows], dtype=bool)
    sides = {"active": ([r.score for r in rows], [r.version for r in rows]),
             "shadow": ([r.shadow_score for r in rows], [r.shadow_version for r in rows])}
    report: dict[str, Any] = {"transactions": len(rows), "labelled_fraud": int(fraud.sum())}
    flags = {}
    for side, (scores, names) in sides.items():
        score = np.asarray(scores, dtype=np.float64)
        missing = sorted({n for n in names if n not in review_threshold})
        flagged = np.asarray([s >= review_threshold.get(n, np.inf) for s, n in zip(score, names,
                                                                                 strict=True)])
        flags[side] = flagged
        figures: dict[str, Any] = {
            "versions": dict(Counter(names)),
            "score_quantiles": {f"p{q}": round(float(np.quantile(score, q / 100)), 4)
                                for q in (50, 90, 99)},
            "flag_rate": round(float(flagged.mean()), 5),
        }
        if missing:
            figures["unknown_thresholds"] = missing  # models no longer in the folder
        if 0 < fraud.sum() < len(fraud):
            caught = int((flagged & fraud).sum())
            figures |= {"precision": round(caught / max(int(flagged.sum()), 1), 4),
                        "recall": round(caught / int(fraud.sum()), 4),
                        "pr_auc": round(float(average_precision_score(fraud, score)), 4),
                        "roc_auc": round(float(roc_auc_score(fraud, score)), 4)}
        report[side] = figures
    report["agreement"] = round(float((flags["active"] == flags["shadow"]).mean()), 5)
    report["only_active_flags"] = int((flags["active"] & ~flags["shadow"]).sum())
    report["only_shadow_flags"] = int((flags["shadow"] & ~flags["active"]).sum())
    return report
