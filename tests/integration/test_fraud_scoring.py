"""The authorize path (real Redis: profiles, fan-in and label-risk sets) scores exactly as the
offline replay.

This is the no-skew property without Kafka's timing in the way: same traffic, same batches,
same order, same fraud labels (held in Redis's label-risk sets as the labels sink writes them,
fed in reported-at order to the replay), so every score must be identical, to the last bit.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from redis.asyncio import Redis
from sklearn.linear_model import LogisticRegression

from agents.authorizer import Authorizer, Codecs, needed_accounts, triage
from agents.batch import InputEvent
from agents.fraud.assess import Assessor, is_flagged
from agents.fraud.fanin import Payment
from agents.fraud.features import FEATURES
from agents.fraud.labelrisk import FEATURES as labelrisk_features
from agents.fraud.labelrisk import Entry, LabelRiskMemory, entries_of_transaction
from agents.fraud.model import FixedModels, Model, Thresholds
from agents.fraud.replay import replay
from agents.rules import Rules
from agents.store import RedisStateStore, label_risk_key
from streams.codec import SingleObjectCodec, load_versions
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.partitioning import partition_for
from streams.records import TransactionType
from streams.settings import Settings
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration
CODECS = Codecs(*(SingleObjectCodec(load_versions(r))
                  for r in ("transaction", "decision", "posting", "credit")))
DAY_MS = 86_400_000
BATCH = 400


def as_events(txs: list, offsets: dict[int, int], now_ms: int, partitions: int = 12) -> list[InputEvent]:
    """Each transaction in its key's partition at that partition's next offset."""
    out = []
    for t in txs:
        p = partition_for(t.partition_key.encode(), partitions)
        offsets[p] = offsets.get(p, -1) + 1
        out.append(InputEvent(p, offsets[p], t.partition_key.encode(),
                              CODECS.transaction.encode(t.to_record()), now_ms))
    return out


@pytest.fixture
def namespace(stack_settings: Settings, redis_url: str):  # type: ignore[no-untyped-def]
    yield stack_settings.topic_prefix
    clean_redis_namespace(redis_url, stack_settings.topic_prefix)


def test_stream_scores_equal_offline_scores(namespace: str, redis_url: str) -> None:
    traffic = list(TrafficGenerator(GeneratorConfig(seed=11, accounts=400, fraud_share=0.05))
                   .generate(8_000))
    # Every fraud of the first half is labelled two hours after it happened.
    half = traffic[len(traffic) // 2][0].event_time
    labelled = [entry for tx, label in traffic if label.is_fraud and tx.event_time < half
                for entry in entries_of_transaction(tx, tx.event_time + 2 * 3_600_000)]
    unscored = replay(traffic, Assessor(Rules(), FixedModels(None)),
                      label_risk=LabelRiskMemory(labelled))
    rows, y = unscored.features(), np.asarray(unscored.is_fraud)[unscored.scored]
    label_columns = [FEATURES.index(name) for name in labelrisk_features]
    assert rows[:, label_columns].any(axis=1).sum() > 100  # the label features are not all zero
    assert (rows[:, FEATURES.index("dest_fraud_rate_week0")] > 0).sum() > 20  # nor the rates
    assert (rows[:, FEATURES.index("device_fraud_30d")] > 0).sum() > 3  # nor the devices
    estimator = LogisticRegression(max_iter=1000).fit(rows, y)
    model = Model("fraud-v9999", estimator, Thresholds(review=0.3, decline=0.8),
                  np.median(rows, axis=0), {})
    offline = replay(traffic, Assessor(Rules(), FixedModels(model)), batch_size=BATCH,
                     label_risk=LabelRiskMemory(labelled))
    expected = dict(zip(offline.tx_ids, zip(offline.scores, offline.flagged, strict=True), strict=True))

    now_ms = max(t.event_time for t, _ in traffic) + 60_000
    streamed = asyncio.run(_authorize_all([t for t, _ in traffic], model, namespace, redis_url,
                                          now_ms, labelled))

    assert streamed.keys() == expected.keys()
    differing = [t for t in expected if streamed[t] != expected[t]]
    assert differing == []
    assert sum(flag for _, flag in expected.values()) > 50  # the model did flag things
    assert len({score for score, _ in expected.values()}) > 1000


def test_warm_started_workers_score_as_if_they_had_run_through_the_history(
        namespace: str, redis_url: str, stack_settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`paystream warm` on the first half (history), then the authorize path on the second half:
    the scores the offline replay of the whole traffic gives, to the bit; cold, they differ."""

    from paystream.launch import run
    from streams.jsonlines import to_line

    traffic = list(TrafficGenerator(GeneratorConfig(seed=12, accounts=300, fraud_share=0.05))
                   .generate(6_000))
    cut = 10 * BATCH  # batch boundaries as the replay's
    history = tmp_path / "history.jsonl"
    history.write_text("".join(to_line(tx) + "\n" for tx, _ in traffic[:cut]))
    unscored = replay(traffic, Assessor(Rules(), FixedModels(None)))
    estimator = LogisticRegression(max_iter=1000).fit(unscored.features(),
                                                      np.asarray(unscored.is_fraud)[unscored.scored])
    model = Model("fraud-v9999", estimator, Thresholds(review=0.3, decline=0.8),
                  np.median(unscored.features(), axis=0), {})
    offline = replay(traffic, Assessor(Rules(), FixedModels(model)), batch_size=BATCH)
    before = {tx.tx_id for tx, _ in traffic[:cut]}
    expected = {t: s for t, s in zip(offline.tx_ids, offline.scores, strict=True) if t not in before}
    now_ms = max(t.event_time for t, _ in traffic) + 60_000
    rest = [t for t, _ in traffic[cut:]]

    cold = asyncio.run(_authorize_all(rest, model, namespace, redis_url, now_ms, []))
    assert sum(cold[t][0] != expected[t] for t in expected) > len(expected) // 4
    clean_redis_namespace(redis_url, namespace)

    warmed = run(stack_settings, "warm", "--transactions", str(history),
                 extra_env={"REDIS_URL": redis_url}, timeout=300)
    assert warmed.returncode == 0, warmed.stderr
    assert '"transactions": 4000' in warmed.stdout
    warm = asyncio.run(_authorize_all(rest, model, namespace, redis_url, now_ms, []))
    assert [t for t in expected if warm[t][0] != expected[t]] == []


async def _authorize_all(txs: list, model: Model, namespace: str, redis_url: str,
                         now_ms: int, labelled: list[tuple[str, Entry]]) -> dict[str, tuple[float, bool]]:
    redis = Redis.from_url(redis_url)
    for account, entry in labelled:  # all there from the start: reported_at hides the future ones
        await redis.zadd(label_risk_key(namespace, account), {entry.member: entry.event_ms})
    store = RedisStateStore(redis, namespace, tx_ttl_s=DAY_MS // 1000, window_ms=DAY_MS)
    authorizer = Authorizer(Rules(), CODECS, "transactions", DAY_MS, clock_ms=lambda: now_ms,
                            models=FixedModels(model), partitions=12)
    offsets: dict[int, int] = {}
    out: dict[str, tuple[float, bool]] = {}
    try:
        for start in range(0, len(txs), BATCH):
            events = as_events(txs[start:start + BATCH], offsets, now_ms)
            valid, dead = triage(events, CODECS.transaction, now_ms, 3_600_000, 12)
            assert dead == []
            payments = {v.tx.tx_id: Payment.of(v.tx) for v in valid
                        if v.tx.type is not TransactionType.DEPOSIT}
            view = await store.read(needed_accounts(valid), {v.tx.tx_id for v in valid},
                                    {e.partition for e in events}, payments)
            result = authorizer.apply(valid, dead, view)
            await store.commit(view, result, "transactions", f"b{start}")
            for messages in result.outputs.values():
                for message in messages:
                    if message.role == "decisions":
                        decision = CODECS.decision.decode(message.value)
                        out[decision["tx_id"]] = (decision["score"], is_flagged(decision["reasons"]))
    finally:
        await redis.aclose()
    return out


def test_workers_pipeline_swaps_models_live_and_records_the_shadow(stack_settings: Settings,
                                                                   redis_url: str) -> None:
    import json
    import shutil
    import time
    from pathlib import Path

    from agents.fraud.model import MANIFEST_FILE
    from agents.fraud.train import TrainingOptions, train
    from paystream.wiring import build_pipeline
    from streams.topics import topics
    from tests.integration.kafka_reader import read_messages

    models = Path(stack_settings.models_dir)
    train(TrainingOptions(GeneratorConfig(seed=3, accounts=500, fraud_share=0.05), count=24_000,
                          runs=2), Rules(), models)
    settings = stack_settings.model_copy(update={"redis_url": redis_url, "model_check_s": 0.2,
                                                 "shadow_model": "fraud-v0001"})
    now_ms = time.time_ns() // 1_000_000
    config = GeneratorConfig(seed=21, accounts=300, fraud_share=0.1, start_ms=now_ms - DAY_MS)
    txs = [t for t, _ in TrafficGenerator(config).generate(600)]
    assert txs[-1].event_time < now_ms
    offsets: dict[int, int] = {}

    def events(batch: list) -> list[InputEvent]:
        return as_events(batch, offsets, now_ms, settings.partitions)

    async def run() -> None:
        pipeline = build_pipeline(settings)
        await pipeline.authorize(events(txs[:300]))
        shutil.copytree(models / "fraud-v0001", models / "fraud-v0002")
        manifest = json.loads((models / "fraud-v0002" / MANIFEST_FILE).read_text())
        (models / "fraud-v0002" / MANIFEST_FILE).write_text(json.dumps({**manifest, "version": "fraud-v0002"}))
        await asyncio.sleep(0.3)
        await pipeline.authorize(events(txs[300:]))

    asyncio.run(run())
    try:
        decisions = [CODECS.decision.decode(m.value()) for m in read_messages(
            settings.kafka_bootstrap_servers, topics(settings.topic_prefix).decisions.name, len(txs))]
    finally:
        clean_redis_namespace(redis_url, settings.topic_prefix)
    by_id = {d["tx_id"]: d for d in decisions}
    scored = [by_id[t.tx_id] for t in txs if t.type is not TransactionType.DEPOSIT]
    first = {t.tx_id for t in txs[:300]}
    assert {d["model_version"] for d in scored if d["tx_id"] in first} == {"fraud-v0001"}
    assert {d["model_version"] for d in scored if d["tx_id"] not in first} == {"fraud-v0002"}
    assert all(d["shadow_model_version"] == "fraud-v0001" and d["shadow_score"] is not None
               for d in scored)
    assert any(r.startswith("model:") for d in scored for r in d["reasons"])
