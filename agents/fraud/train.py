"""Train a fraud model on labelled generated traffic and write it as a new versioned artifact.

Steps: generate `runs` independent streams (seed, seed+1, ...: different populations), one
after the other in event time, and replay each from empty state through the stream's feature
code (agents.fraud.replay), as a fresh deployment would see it: every account starts unknown.
The newest stream is the hold-out (time-ordered, and a population never trained on); fit each
candidate on the older ones and keep the best PR-AUC on the hold-out; pick the REVIEW and
DECLINE thresholds on the hold-out so that rules and model together flag at most the asked
share of legitimate payments; write model, features, thresholds, data hash and metrics.

Why whole streams rather than the newest part of one: profiles start empty, so the first days
of a stream look novel (every device new); thresholds set on warmed-up profiles alone flagged
about twice the asked share of a fresh stream. Calibrated this way they are conservative once
profiles are warm.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from agents.fraud.assess import Assessor
from agents.fraud.features import FEATURES
from agents.fraud.labelrisk import LabelRiskMemory, reported_after
from agents.fraud.metrics import detection_metrics, threshold_for
from agents.fraud.model import (
    MANIFEST_FILE,
    MODEL_FILE,
    FixedModels,
    Thresholds,
    file_sha256,
    next_version,
)
from agents.fraud.replay import Replayed, replay
from agents.rules import Rules
from streams.errors import ConfigError
from streams.generator import GeneratorConfig, TrafficGenerator

DAY_MS = 86_400_000


def candidates(seed: int) -> dict[str, Any]:
    """The classifiers compared; explicit options rather than library defaults."""
    return {
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            learning_rate=0.08, max_iter=300, max_leaf_nodes=31, min_samples_leaf=40,
            l2_regularization=1.0, early_stopping=False, random_state=seed),
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
    }


@dataclass(frozen=True)
class TrainingOptions:
    generator: GeneratorConfig
    count: int = 800_000
    #: Independent streams the count is split into; the newest is the hold-out.
    runs: int = 4
    #: Share of legitimate transactions that rules and model together may flag (REVIEW or worse).
    review_fpr: float = 0.009
    #: Share of legitimate transactions the model may DECLINE outright.
    decline_fpr: float = 0.001
    #: When a fraud's label comes back (a chargeback, a customer's report), after the payment:
    #: the replay feeds it to the label-risk features from then on, as the labels sink would.
    label_delay_days: float = 1.0
    #: False: train without label-risk features (they stay 0), to measure what labels add.
    label_feedback: bool = True

    def __post_init__(self) -> None:
        if not 2 <= self.runs <= 20:
            raise ConfigError(f"runs={self.runs}: must be in [2, 20]")
        if not 0.0 < self.decline_fpr <= self.review_fpr < 0.5:
            raise ConfigError(f"need 0 < decline_fpr ({self.decline_fpr}) <= review_fpr "
                              f"({self.review_fpr}) < 0.5")
        if not 0.0 <= self.label_delay_days <= 365.0:
            raise ConfigError(f"label_delay_days={self.label_delay_days}: must be in [0, 365]")
        if self.count < 20_000:
            raise ConfigError(f"count={self.count}: train on at least 20000 transactions")


@dataclass
class TrainingResult:
    version: str
    folder: Path
    chosen: str
    pr_auc: dict[str, float]
    thresholds: Thresholds
    holdout: dict[str, Any]  # detection metrics of rules + chosen model on the hold-out
    seconds: dict[str, float]


def replay_runs(options: TrainingOptions, rules: Rules,
                progress: Callable[[int], None] | None = None) -> list[Replayed]:
    """Each run from empty state, starting a day after the previous one ended; each run's fraud
    labels come back `label_delay_days` after the payment (none with label_feedback off)."""
    out = []
    start_ms = options.generator.start_ms
    per_run = options.count // options.runs
    delay_ms = int(options.label_delay_days * DAY_MS)
    for run in range(options.runs):
        config = replace(options.generator, seed=options.generator.seed + run, start_ms=start_ms)
        items = list(TrafficGenerator(config).generate(per_run))
        known = (reported_after(((tx, label.is_fraud) for tx, label in items), delay_ms)
                 if options.label_feedback else [])
        out.append(replay(items, Assessor(rules, FixedModels(None)), progress=progress,
                          label_risk=LabelRiskMemory(known)))
        start_ms = max((tx.event_time for tx, _ in items), default=start_ms) + DAY_MS
    return out


def train(options: TrainingOptions, rules: Rules, models_dir: Path,
          progress: Callable[[int], None] | None = None) -> TrainingResult:
    started = time.perf_counter()
    runs = replay_runs(options, rules, progress)
    replayed_at = time.perf_counter()
    parts = [(run.features(), np.asarray(run.is_fraud)[run.scored],
              np.asarray(run.rule_flagged)[run.scored],
              [s for s, keep in zip(run.scenarios, run.scored, strict=True) if keep]) for run in runs]
    rows = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    rule_flag = np.concatenate([p[2] for p in parts])
    scenarios = [s for p in parts for s in p[3]]
    cut = len(rows) - len(parts[-1][0])
    if y[:cut].sum() < 50 or y[cut:].sum() < 50:
        raise ConfigError(f"too little fraud to train on ({int(y.sum())} of {len(y)} payments); "
                          f"raise --count or --fraud-share")

    chosen, model, pr_auc = fit_and_choose(rows[:cut], y[:cut], rows[cut:], y[cut:],
                                           options.generator.seed)
    fitted_at = time.perf_counter()

    held_scores = model.predict_proba(rows[cut:])[:, 1]
    thresholds = pick_thresholds(held_scores, y[cut:], rule_flag[cut:], options.review_fpr,
                                 options.decline_fpr)
    flagged = rule_flag[cut:] | (held_scores >= thresholds.review)
    holdout = detection_metrics(y[cut:], scenarios[cut:], held_scores, flagged)
    version = write_artifact(models_dir, model, manifest(
        model, chosen, thresholds, (options.review_fpr, options.decline_fpr),
        np.median(rows[:cut][~y[:cut]], axis=0), {
            "generator": asdict(options.generator), "transactions": options.count,
            "runs": options.runs, "payments": len(rows), "fraud": int(y.sum()),
            "label_delay_days": options.label_delay_days, "label_feedback": options.label_feedback,
            "holdout_payments": int(len(rows) - cut),
            "data_sha256": data_hash(rows, y), "rules": rules.source,
        }, {"pr_auc_holdout": pr_auc, "holdout": holdout}))
    seconds = {"replay": round(replayed_at - started, 1), "fit": round(fitted_at - replayed_at, 1),
               "total": round(time.perf_counter() - started, 1)}
    return TrainingResult(version, models_dir / version, chosen, pr_auc, thresholds, holdout, seconds)


def fit_and_choose(rows: np.ndarray, y: np.ndarray, held_rows: np.ndarray, held_y: np.ndarray,
                   seed: int) -> tuple[str, Any, dict[str, float]]:
    """Fit every candidate on (rows, y); keep the best average precision on the held-out rows:
    (its name, the fitted model, every candidate's figure)."""
    pr_auc, fitted = {}, {}
    for name, estimator in candidates(seed).items():
        fitted[name] = clone(estimator).fit(rows, y)
        pr_auc[name] = round(float(average_precision_score(
            held_y, fitted[name].predict_proba(held_rows)[:, 1])), 4)
    chosen = max(pr_auc, key=lambda n: pr_auc[n])
    return chosen, fitted[chosen], pr_auc


def manifest(model: Any, chosen: str, thresholds: Thresholds, target_fpr: tuple[float, float],
             baseline: np.ndarray, training: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """What a version's manifest.json says besides its name, date and checksum."""
    return {
        "kind": type(model).__name__ if chosen != "logistic_regression" else "LogisticRegression",
        "candidate": chosen,
        "features": list(FEATURES),
        "thresholds": asdict(thresholds),
        "target_fpr": {"review": target_fpr[0], "decline": target_fpr[1]},
        "baseline": [float(v) for v in baseline],
        "training": training,
        "metrics": metrics,
    }


def pick_thresholds(scores: np.ndarray, is_fraud: np.ndarray, rule_flagged: np.ndarray,
                    review_fpr: float, decline_fpr: float) -> Thresholds:
    """Lowest thresholds whose false positives stay within budget.

    REVIEW: legitimate payments the rules flag already use part of `review_fpr`; the model gets
    the rest, among the legitimate payments the rules let through. DECLINE: `decline_fpr` of
    all legitimate payments.
    """
    legit = ~is_fraud
    n_legit = int(legit.sum())
    review_budget = int(review_fpr * n_legit) - int((rule_flagged & legit).sum())
    unflagged = np.sort(scores[legit & ~rule_flagged])[::-1]
    review = threshold_for(unflagged, review_budget)
    decline = threshold_for(np.sort(scores[legit])[::-1], int(decline_fpr * n_legit))
    return Thresholds(review=review, decline=max(decline, review))


def data_hash(rows: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(rows).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def write_artifact(models_dir: Path, model: Any, manifest: dict[str, Any]) -> str:
    """Write a new version folder atomically (temporary name, then rename); return its name."""
    models_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(models_dir)
    staging = models_dir / f".{version}.{os.getpid()}.tmp"
    staging.mkdir()
    joblib.dump(model, staging / MODEL_FILE)
    manifest = {"version": version, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **manifest, "model_sha256": file_sha256(staging / MODEL_FILE)}
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    try:
        staging.rename(models_dir / version)
    except OSError as exc:
        raise ConfigError(f"could not publish {version} in {models_dir}: {exc.strerror} "
                          f"(another training run took the name?)") from exc
    return version
