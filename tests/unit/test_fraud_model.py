"""Training writes a whole, verifiable artifact; the registry loads, refuses and hot-swaps them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.fraud.assess import Assessor, is_flagged
from agents.fraud.fanin import Seen
from agents.fraud.features import FEATURES
from agents.fraud.metrics import detection_metrics
from agents.fraud.model import (
    MANIFEST_FILE,
    MODEL_FILE,
    FixedModels,
    ModelError,
    ModelRegistry,
    load_model,
    versions,
)
from agents.fraud.train import TrainingOptions, pick_thresholds, train
from agents.rules import Rules
from streams.errors import ConfigError
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.records import TransactionType

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    options = TrainingOptions(GeneratorConfig(seed=3, accounts=500, fraud_share=0.05),
                              count=24_000, runs=2)
    train(options, Rules(), folder)
    return folder


def test_training_writes_a_complete_versioned_artifact(trained: Path) -> None:
    assert versions(trained) == ["fraud-v0001"]
    manifest = json.loads((trained / "fraud-v0001" / MANIFEST_FILE).read_text())
    assert manifest["features"] == list(FEATURES)
    assert set(manifest["metrics"]["pr_auc_holdout"]) == {"hist_gradient_boosting", "logistic_regression"}
    assert manifest["candidate"] == max(manifest["metrics"]["pr_auc_holdout"],
                                        key=manifest["metrics"]["pr_auc_holdout"].get)
    assert 0 < manifest["thresholds"]["review"] <= manifest["thresholds"]["decline"] <= 1
    assert len(manifest["training"]["data_sha256"]) == 64
    assert manifest["training"]["generator"]["seed"] == 3
    assert manifest["metrics"]["holdout"]["false_positive_rate"] <= 0.009
    assert not [p for p in trained.iterdir() if p.name.startswith(".")]  # no staging left


def test_the_model_scores_and_names_what_drove_a_score(trained: Path) -> None:
    model = load_model(trained / "fraud-v0001")
    paying = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=77, accounts=300, fraud_share=0.2))
              .generate(3_000) if t.type is not TransactionType.DEPOSIT]
    out = Assessor(Rules(), FixedModels(model)).assess(paying, {}, [Seen(0, -1)] * len(paying))
    flagged = [a for a in out.assessments if "model:review" in a.reasons or "model:decline" in a.reasons]
    assert flagged, "a fifth of the traffic is fraud: the model must flag some"
    assert all(a.score >= model.thresholds.review for a in flagged)
    assert all(a.model_version == "fraud-v0001" for a in out.assessments)
    assert any(r.startswith("feature:") for a in flagged for r in a.reasons)
    declined = [a for a in flagged if "model:decline" in a.reasons]
    assert all(a.outcome == "DECLINE" and a.score >= model.thresholds.decline for a in declined)


def _copy_as(trained: Path, target: Path, version: str) -> None:
    shutil.copytree(trained / "fraud-v0001", target / version)
    manifest_path = target / version / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = version
    manifest_path.write_text(json.dumps(manifest))


def test_a_new_version_is_picked_up_without_a_restart(trained: Path, tmp_path: Path) -> None:
    _copy_as(trained, tmp_path, "fraud-v0001")
    now = [0.0]
    registry = ModelRegistry(tmp_path, check_every_s=5, clock=lambda: now[0])
    assert registry.active().version == "fraud-v0001"
    _copy_as(trained, tmp_path, "fraud-v0002")
    now[0] = 4.0
    assert registry.active().version == "fraud-v0001"  # not looked yet
    now[0] = 5.0
    assert registry.active().version == "fraud-v0002"


def test_a_broken_new_version_keeps_the_current_one(trained: Path, tmp_path: Path) -> None:
    _copy_as(trained, tmp_path, "fraud-v0001")
    now = [0.0]
    registry = ModelRegistry(tmp_path, check_every_s=1, clock=lambda: now[0])
    _copy_as(trained, tmp_path, "fraud-v0002")
    (tmp_path / "fraud-v0002" / MODEL_FILE).write_bytes(b"truncated")
    now[0] = 2.0
    assert registry.active().version == "fraud-v0001"


def test_a_pinned_version_that_does_not_exist_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fraud-v0007"):
        ModelRegistry(tmp_path, "fraud-v0007")
    with pytest.raises(ConfigError, match="expected 'latest'"):
        ModelRegistry(tmp_path, "newest")


def test_a_model_for_other_features_is_refused(trained: Path, tmp_path: Path) -> None:
    _copy_as(trained, tmp_path, "fraud-v0001")
    manifest_path = tmp_path / "fraud-v0001" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["features"] = manifest["features"][:-1]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="retrain"):
        load_model(tmp_path / "fraud-v0001")


def test_the_shadow_is_scored_but_never_acts(trained: Path, tmp_path: Path) -> None:
    _copy_as(trained, tmp_path, "fraud-v0001")
    registry = ModelRegistry(tmp_path, active="latest", shadow="fraud-v0001")
    assert registry.shadow().version == "fraud-v0001"
    paying = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=78, accounts=300, fraud_share=0.2))
              .generate(2_000) if t.type is not TransactionType.DEPOSIT]
    shadow = registry.shadow()
    out = Assessor(Rules(), FixedModels(None, shadow)).assess(paying, {}, [Seen(0, -1)] * len(paying))
    assert all(a.shadow_model_version == "fraud-v0001" for a in out.assessments)
    assert max(a.shadow_score for a in out.assessments) > shadow.thresholds.review
    assert not any(r.startswith("model:") for a in out.assessments for r in a.reasons)
    assert all(a.score == 0.0 and a.model_version is None for a in out.assessments)


def test_thresholds_leave_room_for_what_the_rules_flag() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    fraud = np.zeros(10, dtype=bool)
    rules = np.zeros(10, dtype=bool)
    rules[9] = True  # the rules already flag one legit payment of ten
    picked = pick_thresholds(scores, fraud, rules, review_fpr=0.3, decline_fpr=0.1)
    assert (scores[~rules] >= picked.review).sum() == 2  # 3 allowed, 1 used by the rules
    assert (scores >= picked.decline).sum() == 1


def test_detection_metrics_by_hand() -> None:
    report = detection_metrics(
        is_fraud=[True, True, True, False, False, False, False, False],
        scenarios=["card_testing", "card_testing", "mule_fan_in", "legit", "legit", "legit", "legit", "legit"],
        scores=[0.9, 0.2, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1],
        flagged=[True, False, True, True, False, False, False, False])
    assert (report["precision"], report["recall"], report["false_positive_rate"]) == (0.6667, 0.6667, 0.2)
    assert report["per_scenario"] == {"card_testing": {"transactions": 2, "recall": 0.5},
                                      "mule_fan_in": {"transactions": 1, "recall": 1.0}}
    # Ranked: 0.9 F, 0.8 F, 0.7 L, 0.2 F -> AP = (1 + 1 + 3/4) / 3
    assert report["pr_auc"] == round((1 + 1 + 0.75) / 3, 4)


def test_flagged_means_a_risk_reason_not_only_funds() -> None:
    assert not is_flagged(["insufficient_funds"])
    assert is_flagged(["insufficient_funds", "model:review", "feature:new_device"])
    assert is_flagged(["block:country"]) and is_flagged(["rule:velocity_1m"])


def split_thresholds(estimator: Any, feature: int) -> np.ndarray:
    """The thresholds of the fitted trees' splits on `feature`, as scikit-learn holds them."""
    nodes = np.concatenate([per_iteration[0].nodes for per_iteration in estimator._predictors])
    return nodes["num_threshold"][(nodes["feature_idx"] == feature) & (nodes["is_leaf"] == 0)]


def test_the_compiled_trees_score_exactly_as_scikit_learn() -> None:
    """agents/fraud/trees.py replaces predict_proba on the hot path: same numbers, bit for bit,
    including missing values (NaN) and values exactly on a split threshold."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from agents.fraud.trees import CompiledTrees

    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 6))
    x[rng.random(x.shape) < 0.05] = np.nan  # trees learn where missing values go
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
         + rng.normal(scale=0.5, size=len(x)) > 0.8).astype(int)
    estimator = HistGradientBoostingClassifier(max_iter=60, random_state=1).fit(x, y)
    compiled = CompiledTrees.of(estimator)
    assert compiled is not None

    probe = rng.normal(size=(500, 6))
    probe[rng.random(probe.shape) < 0.1] = np.nan
    probe[:50, 0] = split_thresholds(estimator, 0)[:1]  # on a threshold: goes left
    assert np.array_equal(compiled.fraud_probability(probe), estimator.predict_proba(probe)[:, 1])
    for rows in (1, 5, 6, 7, 13):  # the loop walks six rows at a time, then the rest one by one
        assert np.array_equal(compiled.fraud_probability(probe[:rows]),
                              estimator.predict_proba(probe[:rows])[:, 1])
    assert compiled.fraud_probability(probe[:0]).shape == (0,)


def test_the_drivers_probes_score_exactly_as_scikit_learn_scores_each_probe() -> None:
    """Model.drivers puts each feature back to its typical value, one probe row per feature;
    the compiled trees walk only where a probe leaves the row's path (agents/fraud/trees.py):
    the same numbers as scikit-learn scoring every probe row, bit for bit, with missing values
    in the rows and among the values put back, and values exactly on a split threshold."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from agents.fraud.trees import CompiledTrees

    rng = np.random.default_rng(11)
    x = rng.normal(size=(4000, 5))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 3]) * np.nan_to_num(x[:, 1])
         + rng.normal(scale=0.5, size=len(x)) > 0.5).astype(int)
    estimator = HistGradientBoostingClassifier(max_iter=40, random_state=2).fit(x, y)
    compiled = CompiledTrees.of(estimator)
    assert compiled is not None
    rows = rng.normal(size=(40, 5)).astype(np.float32)
    rows[rng.random(rows.shape) < 0.1] = np.nan
    values = np.array([0.0, np.nan, split_thresholds(estimator, 2)[0], 0.3, -1.0],
                      dtype=np.float32)
    n, f = rows.shape
    probes = np.repeat(rows, f, axis=0).reshape(n, f, f)
    probes[:, np.arange(f), np.arange(f)] = values  # probe j puts feature j back
    expected = estimator.predict_proba(probes.reshape(n * f, f))[:, 1].reshape(n, f)
    assert np.array_equal(compiled.probe_probability(rows, values), expected)
    assert compiled.probe_probability(rows[:0], values).shape == (0, f)


def test_the_compiled_trees_are_compiled_when_a_model_loads_not_on_the_first_batch() -> None:
    """In a fresh interpreter (nothing compiled yet in it): once CompiledTrees.of returns, both
    loops hold a compiled signature, and scoring rows as the hot path passes them (float32 from
    the features, a probe's values as the model's baseline) compiles nothing more."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingClassifier
        from agents.fraud import trees
        rng = np.random.default_rng(3)
        x = rng.normal(size=(500, 4))
        estimator = HistGradientBoostingClassifier(max_iter=5).fit(x, (x[:, 0] > 0).astype(int))
        assert not trees._walk.signatures and not trees._walk_probes.signatures
        compiled = trees.CompiledTrees.of(estimator)
        loaded = (list(trees._walk.signatures), list(trees._walk_probes.signatures))
        assert all(loaded), loaded
        rows = x[:20].astype(np.float32)
        compiled.probe_probability(rows, compiled.fraud_probability(rows)[:4])
        compiled.probe_probability(x[:3], np.median(x, axis=0))
        after = (list(trees._walk.signatures), list(trees._walk_probes.signatures))
        assert after == loaded, (loaded, after)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)


def test_models_the_compiled_trees_cannot_reproduce_keep_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from agents.fraud.trees import CompiledTrees

    rng = np.random.default_rng(3)
    x, y3 = rng.normal(size=(600, 3)), rng.integers(0, 3, 600)
    assert CompiledTrees.of(LogisticRegression().fit(x, y3 % 2)) is None
    assert CompiledTrees.of(HistGradientBoostingClassifier(max_iter=5).fit(x, y3)) is None
    categorical = np.column_stack([rng.integers(0, 4, 600), x[:, 1:]])
    fitted = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(
        categorical, y3 % 2)
    assert CompiledTrees.of(fitted) is None
