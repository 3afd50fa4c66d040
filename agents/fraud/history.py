"""Train on the operator's own history: any transactions, any labels, split by time as they live.

The transactions are replayed in event-time order from empty state through the workers' own
feature code (agents.fraud.replay), so the model learns from exactly what serving computes.
A transaction without a label is taken as legitimate (labels are confirmations of fraud and
the occasional confirmed-legitimate case).

Labels arrive late (a chargeback comes weeks after the payment), so the split leaves a gap:
the model is trained on [train_from, train_to), on the labels known `delay` after train_to (a
label without reported_at is taken as known `delay` after its transaction), and tested on what
comes after that gap, the way it will be used: on transactions it has never seen, later than
everything it learnt from. Thresholds and the candidate kept are chosen on the test period,
and its figures are the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.fraud.assess import Assessor
from agents.fraud.labelrisk import LabelRiskMemory, entries_of_transaction
from agents.fraud.metrics import detection_metrics, ranking_metrics
from agents.fraud.model import FixedModels
from agents.fraud.replay import replay
from agents.fraud.train import (
    TrainingResult,
    data_hash,
    fit_and_choose,
    manifest,
    pick_thresholds,
    write_artifact,
)
from agents.rules import Rules
from streams.errors import ConfigError
from streams.records import FraudLabel, Transaction

DAY_MS = 86_400_000
#: Without --train-to, training takes this share of the time before the last gap.
DEFAULT_TRAIN_SHARE = 0.7
MIN_FRAUD = 20


@dataclass(frozen=True)
class KnownLabel:
    is_fraud: bool
    scenario: str          # "legit", the label file's scenario, or "fraud"
    reported_at_ms: int | None


@dataclass(frozen=True)
class HistoryOptions:
    train_from_ms: int | None = None
    train_to_ms: int | None = None
    delay_days: float = 7.0
    review_fpr: float = 0.009
    decline_fpr: float = 0.001
    #: Accounts an investigation team can review in a day (precision among the top k).
    top_k: int = 100
    seed: int = 1
    #: Whether features see the labels as they become known (agents/fraud/labelrisk.py); off,
    #: to measure what they add.
    label_feedback: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.decline_fpr <= self.review_fpr < 0.5:
            raise ConfigError(f"need 0 < decline_fpr ({self.decline_fpr}) <= review_fpr "
                              f"({self.review_fpr}) < 0.5")
        if self.delay_days < 0:
            raise ConfigError(f"delay_days={self.delay_days}: must be >= 0")


@dataclass(frozen=True)
class Split:
    train_from_ms: int
    train_to_ms: int
    test_from_ms: int
    labels_known_at_ms: int


def split(first_ms: int, last_ms: int, options: HistoryOptions) -> Split:
    """The training period, the gap and the test period over [first_ms, last_ms]."""
    delay_ms = int(options.delay_days * DAY_MS)
    start = options.train_from_ms if options.train_from_ms is not None else first_ms
    end = (options.train_to_ms if options.train_to_ms is not None
           else start + int((last_ms - start - delay_ms) * DEFAULT_TRAIN_SHARE))
    if end <= start:
        raise ConfigError("the training period is empty: the history is shorter than the delay "
                          "gap, or --train-to is not after --train-from")
    if end + delay_ms >= last_ms:
        raise ConfigError(f"nothing left to test on after {_iso(end)} plus the {options.delay_days:g}"
                          f"-day delay (the history ends {_iso(last_ms)}): an earlier --train-to "
                          f"or a smaller --delay-days")
    return Split(start, end, end + delay_ms, end + delay_ms)


def train_on_history(transactions: Iterable[Transaction], labels: dict[str, KnownLabel],
                     options: HistoryOptions, rules: Rules, models_dir: Path, source: dict[str, Any],
                     progress: Callable[[int], None] | None = None) -> TrainingResult:
    """Replay, split by time, fit, choose, set thresholds, write a version (see module doc)."""
    started = time.perf_counter()
    ordered = sorted(transactions, key=lambda tx: (tx.event_time, tx.tx_id))
    if not ordered:
        raise ConfigError("no transactions to train on")
    delay_ms = int(options.delay_days * DAY_MS)
    times = split(ordered[0].event_time, ordered[-1].event_time, options)
    legit = KnownLabel(False, "legit", None)
    # The fraud labels as serving learns of them: each at its reported_at (or event + delay).
    known_fraud = [entry for tx in ordered if (label := labels.get(tx.tx_id)) and label.is_fraud
                   for entry in entries_of_transaction(tx, label.reported_at_ms
                                                       if label.reported_at_ms is not None
                                                       else tx.event_time + delay_ms)]
    replayed = replay(((tx, FraudLabel(tx.tx_id, labels.get(tx.tx_id, legit).is_fraud,
                                       labels.get(tx.tx_id, legit).scenario)) for tx in ordered),
                      Assessor(rules, FixedModels(None)), progress=progress,
                      label_risk=LabelRiskMemory(known_fraud if options.label_feedback else ()))
    replayed_at = time.perf_counter()

    scored = np.asarray(replayed.scored)
    rows = replayed.features()
    event = np.asarray([tx.event_time for tx in ordered], dtype=np.int64)[scored]
    accounts = np.asarray([tx.source_account for tx in ordered], dtype=object)[scored]
    truth = np.asarray(replayed.is_fraud, dtype=bool)[scored]
    rule_flag = np.asarray(replayed.rule_flagged, dtype=bool)[scored]
    scenarios = np.asarray(replayed.scenarios, dtype=object)[scored]
    tx_ids = [t for t, keep in zip(replayed.tx_ids, scored, strict=True) if keep]
    # What was known when the model was trained: a label reported after then is not (yet).
    known = np.asarray([_known_by(labels.get(t), e, delay_ms, times.labels_known_at_ms)
                        for t, e in zip(tx_ids, event, strict=True)], dtype=bool)
    train = (event >= times.train_from_ms) & (event < times.train_to_ms)
    test = event >= times.test_from_ms
    y_train = truth[train] & known[train]
    if y_train.sum() < MIN_FRAUD or truth[test].sum() < MIN_FRAUD:
        raise ConfigError(f"too little labelled fraud: {int(y_train.sum())} known in training, "
                          f"{int(truth[test].sum())} in the test period (at least {MIN_FRAUD} "
                          f"each); widen the periods or check the labels' tx_ids")

    chosen, model, pr_auc = fit_and_choose(rows[train], y_train, rows[test], truth[test],
                                           options.seed)
    fitted_at = time.perf_counter()

    scores = model.predict_proba(rows[test])[:, 1]
    thresholds = pick_thresholds(scores, truth[test], rule_flag[test], options.review_fpr,
                                 options.decline_fpr)
    flagged = rule_flag[test] | (scores >= thresholds.review)
    report = {**detection_metrics(truth[test], list(scenarios[test]), scores, flagged),
              **ranking_metrics(truth[test], scores, event[test], accounts[test],
                                options.review_fpr, options.top_k)}
    version = write_artifact(models_dir, model, manifest(
        model, chosen, thresholds, (options.review_fpr, options.decline_fpr),
        np.median(rows[train][~y_train], axis=0), {
            **source, "payments": int(scored.sum()), "train_payments": int(train.sum()),
            "train_fraud_known": int(y_train.sum()), "test_payments": int(test.sum()),
            "train_from": _iso(times.train_from_ms), "train_to": _iso(times.train_to_ms),
            "test_from": _iso(times.test_from_ms), "delay_days": options.delay_days,
            "label_feedback": options.label_feedback,
            "data_sha256": data_hash(rows[train], y_train), "rules": rules.source,
        }, {"pr_auc_holdout": pr_auc, "holdout": report}))
    seconds = {"replay": round(replayed_at - started, 1), "fit": round(fitted_at - replayed_at, 1),
               "total": round(time.perf_counter() - started, 1)}
    return TrainingResult(version, models_dir / version, chosen, pr_auc, thresholds, report, seconds)


def _known_by(label: KnownLabel | None, event_ms: int, delay_ms: int, at_ms: int) -> bool:
    """Whether a transaction's label was known at `at_ms` (unlabelled: nothing to know)."""
    if label is None:
        return True
    reported = label.reported_at_ms if label.reported_at_ms is not None else event_ms + delay_ms
    return reported <= at_ms


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
