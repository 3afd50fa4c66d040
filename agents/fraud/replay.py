"""Offline replay: labelled transactions through the same assessment the authorize agent runs.

Profiles and fan-in sets live in memory instead of Redis; everything else (features, rules,
model, thresholds) is the stream's own code, batch by batch, so what training learns from and
what `paystream evaluate --offline` reports are what the workers would compute.
Funds are not simulated: detection is judged on the score and the risk reasons, which do not
depend on balances (agents.fraud.assess.is_flagged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.fraud.assess import Assessor, is_flagged
from agents.fraud.fanin import FanInMemory, Payment
from agents.fraud.features import FEATURES
from agents.fraud.labelrisk import LabelRiskMemory, PaymentDaysMemory, names_of
from agents.fraud.metrics import detection_metrics
from streams.records import FraudLabel, Transaction, TransactionType

BATCH_SIZE = 1000


@dataclass
class Replayed:
    """One row per transaction, in replay order. Deposits are not scored (score 0, not flagged)."""

    tx_ids: list[str] = field(default_factory=list)
    is_fraud: list[bool] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    #: Flagged by a list or rule alone (what the model's threshold must leave room for).
    rule_flagged: list[bool] = field(default_factory=list)
    scored: list[bool] = field(default_factory=list)
    feature_rows: list[np.ndarray] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """Detection quality of the replayed decisions (agents.fraud.metrics)."""
        return detection_metrics(self.is_fraud, self.scenarios, self.scores, self.flagged)

    def features(self) -> np.ndarray:
        """Rows of the scored transactions only."""
        if not self.feature_rows:
            return np.zeros((0, len(FEATURES)), dtype=np.float32)
        return np.concatenate(self.feature_rows)


def replay(items: Iterable[tuple[Transaction, FraudLabel]], assessor: Assessor,
           batch_size: int = BATCH_SIZE,
           progress: Callable[[int], None] | None = None,
           label_risk: LabelRiskMemory | None = None,
           profiles: dict[str, bytes] | None = None,
           fan_in: FanInMemory | None = None,
           payment_days: PaymentDaysMemory | None = None) -> Replayed:
    """`label_risk`: the fraud labels as they become known (agents.fraud.labelrisk); each
    batch sees those reported by its last transaction's time, as the labels sink would have
    applied them by then. `profiles`, `fan_in` and `payment_days`: the state the replay starts
    from and leaves behind (default: empty, kept to itself), for a caller that wants it
    (`paystream warm`)."""
    profiles = {} if profiles is None else profiles
    fan_in = FanInMemory() if fan_in is None else fan_in
    days = PaymentDaysMemory() if payment_days is None else payment_days
    risk = label_risk or LabelRiskMemory()
    out = Replayed()
    batch: list[tuple[Transaction, FraudLabel]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            _one_batch(batch, assessor, profiles, fan_in, risk, days, out)
            if progress is not None:
                progress(len(batch))
            batch = []
    if batch:
        _one_batch(batch, assessor, profiles, fan_in, risk, days, out)
        if progress is not None:
            progress(len(batch))
    return out


def _one_batch(batch: list[tuple[Transaction, FraudLabel]], assessor: Assessor,
               profiles: dict[str, bytes], fan_in: FanInMemory, risk: LabelRiskMemory,
               days: PaymentDaysMemory, out: Replayed) -> None:
    paying = [tx for tx, _ in batch if tx.type is not TransactionType.DEPOSIT]
    risk.advance(max(tx.event_time for tx, _ in batch))
    held = risk.lookup({name for tx in paying for name in names_of(tx)})
    assessed = assessor.assess(paying, profiles, fan_in.lookup([Payment.of(tx) for tx in paying]),
                               held, days.lookup(held))
    profiles.update(assessed.profiles)
    fan_in.apply(assessed.payments)
    days.apply(assessed.payments)
    out.feature_rows.append(assessed.features)
    results = iter(assessed.assessments)
    for tx, label in batch:
        out.tx_ids.append(tx.tx_id)
        out.is_fraud.append(label.is_fraud)
        out.scenarios.append(label.scenario)
        if tx.type is TransactionType.DEPOSIT:
            out.scores.append(0.0)
            out.flagged.append(False)
            out.rule_flagged.append(False)
            out.scored.append(False)
            continue
        result = next(results)
        out.scores.append(result.score)
        out.flagged.append(is_flagged(result.reasons))
        out.rule_flagged.append(is_flagged([r for r in result.reasons
                                            if not r.startswith("model:")]))
        out.scored.append(True)
