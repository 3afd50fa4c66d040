"""Promoting a model version (workers following `latest` switch without a restart) and the
comparison of shadow against active."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from agents.fraud.compare import Scored, compare
from agents.fraud.features import FEATURES
from agents.fraud.model import (
    MODEL_FILE,
    PROMOTIONS_LOG,
    ModelError,
    ModelRegistry,
    promote,
    promoted,
)
from agents.fraud.train import write_artifact


def _version(folder: Path, review: float = 0.5) -> str:
    rng = np.random.default_rng(len(list(folder.glob("fraud-v*"))) if folder.exists() else 0)
    rows = rng.normal(size=(200, len(FEATURES)))
    model = LogisticRegression().fit(rows, rows[:, 0] > 0)
    return write_artifact(folder, model, {
        "kind": "LogisticRegression", "candidate": "logistic_regression", "features": list(FEATURES),
        "thresholds": {"review": review, "decline": 0.9}, "baseline": [0.0] * len(FEATURES)})


def test_workers_following_latest_switch_to_the_promoted_version_without_a_restart(tmp_path: Path) -> None:
    first, second = _version(tmp_path), _version(tmp_path)
    now = [0.0]
    registry = ModelRegistry(tmp_path, "latest", "latest", check_every_s=5, clock=lambda: now[0])
    assert registry.active().version == second and promoted(tmp_path) is None
    record = promote(tmp_path, first, by="alice")
    assert record["previous"] == second and record["promoted_by"] == "alice"
    assert registry.active().version == second  # until its next check
    now[0] = 5.0
    assert registry.active().version == first
    assert registry.shadow().version == second  # the shadow's latest stays the newest
    third = _version(tmp_path)  # a newer training run does not take over a promoted version
    now[0] = 10.0
    assert registry.active().version == first and registry.shadow().version == third
    promote(tmp_path, third, by="bob")
    log = [json.loads(line) for line in (tmp_path / PROMOTIONS_LOG).read_text().splitlines()]
    assert [(r["version"], r["promoted_by"], r["previous"]) for r in log] == [
        (first, "alice", second), (third, "bob", first)]


def test_a_version_that_does_not_load_is_not_promoted(tmp_path: Path) -> None:
    good, broken = _version(tmp_path), _version(tmp_path)
    (tmp_path / broken / MODEL_FILE).write_bytes(b"not a model")
    with pytest.raises(ModelError, match="checksum"):
        promote(tmp_path, broken, by="alice")
    with pytest.raises(ModelError):
        promote(tmp_path, "fraud-v0099", by="alice")
    assert promoted(tmp_path) is None
    promote(tmp_path, good, by="alice")
    assert promoted(tmp_path) == good


def test_compare_counts_each_models_flags_at_its_own_threshold() -> None:
    rows = ([Scored(0.9, 0.2, "fraud-v0001", "fraud-v0002", True)] * 2
            + [Scored(0.1, 0.8, "fraud-v0001", "fraud-v0002", True)] * 3
            + [Scored(0.1, 0.1, "fraud-v0001", "fraud-v0002", False)] * 95)
    report = compare(rows, {"fraud-v0001": 0.5, "fraud-v0002": 0.7})
    assert report["transactions"] == 100 and report["labelled_fraud"] == 5
    assert report["active"]["flag_rate"] == 0.02 and report["shadow"]["flag_rate"] == 0.03
    assert (report["active"]["recall"], report["shadow"]["recall"]) == (0.4, 0.6)
    assert report["active"]["precision"] == report["shadow"]["precision"] == 1.0
    assert report["agreement"] == 0.95
    assert (report["only_active_flags"], report["only_shadow_flags"]) == (2, 3)
    unknown = compare(rows[:5], {"fraud-v0001": 0.5})
    assert unknown["shadow"]["flag_rate"] == 0 and unknown["shadow"]["unknown_thresholds"] == ["fraud-v0002"]
