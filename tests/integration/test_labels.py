"""`paystream label` to the fraud-labels topic, and the labels sink into PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from redis import Redis

from agents.fraud.labelrisk import Entry, device_name
from agents.store import label_risk_key
from paystream.launch import run
from streams.settings import Settings
from tests.conftest import clean_redis_namespace
from tests.integration.test_sinks import with_db

pytestmark = pytest.mark.integration


def _label(settings: Settings, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(settings, "label", "--input", str(path), *args, timeout=120)


def _sink(settings: Settings) -> None:
    result = run(settings, "sink", "labels", "--idle-exit-s", "3", timeout=120)
    assert result.returncode == 0, result.stderr


def _rows(settings: Settings) -> list[tuple]:
    async def read(connection) -> list[tuple]:  # type: ignore[no-untyped-def]
        rows = await connection.fetch("SELECT tx_id, source, is_fraud, "
                                      "(extract(epoch FROM reported_at) * 1000)::bigint, note "
                                      "FROM labels ORDER BY tx_id, source")
        return [tuple(r) for r in rows]

    return with_db(settings, read)


def test_labels_land_once_per_source_the_latest_report_winning(db_settings: Settings,
                                                              tmp_path: Path) -> None:
    first = tmp_path / "chargebacks.csv"
    first.write_text("tx_id,is_fraud,reported_at,scenario\n"
                     "tx-1,1,2026-11-01T10:00:00Z,card\n"
                     "tx-2,0,1793527200000,\n"
                     "tx-3,perhaps,,\n"
                     "tx-4,1,last tuesday,\n")
    sent = _label(db_settings, first)
    assert sent.returncode == 1  # two bad lines: reported, the rest sent
    assert "line 4: is_fraud='perhaps'" in sent.stderr and "line 5: reported_at=" in sent.stderr
    assert "2 sent" in sent.stdout
    analyst = tmp_path / "analyst.csv"
    analyst.write_text("tx_id,is_fraud,reported_at,note\ntx-1,1,2026-11-02T00:00:00Z,case 9\n")
    assert _label(db_settings, analyst, "--source", "ANALYST").returncode == 0
    _sink(db_settings)
    expected = [("tx-1", "ANALYST", True, 1793577600000, "case 9"),
                ("tx-1", "CHARGEBACK", True, 1793527200000, None),
                ("tx-2", "CHARGEBACK", False, 1793527200000, None)]
    assert _rows(db_settings) == expected

    # The same file again changes nothing; an older report of the same source neither; a newer
    # one (the chargeback reversed) replaces it.
    assert _label(db_settings, analyst, "--source", "ANALYST").returncode == 0
    reversal = tmp_path / "reversal.csv"
    reversal.write_text("tx_id,is_fraud,reported_at\ntx-2,1,2026-10-01T00:00:00Z\n"
                        "tx-1,0,2026-11-20T00:00:00Z\n")
    assert _label(db_settings, reversal).returncode == 0
    _sink(db_settings)
    expected[1] = ("tx-1", "CHARGEBACK", False, 1795132800000, None)
    assert _rows(db_settings) == expected


def test_model_compare_reads_the_shadows_scores_and_the_labels_received(db_settings: Settings,
                                                                         tmp_path: Path) -> None:
    import json
    import time

    from sinks.reporting import ReportingWriter
    from tests.integration.test_sinks import decision
    from tests.unit.test_model_promotion import _version

    models = tmp_path / "models"
    active, shadow = _version(models, review=0.5), _version(models, review=0.7)
    now = time.time_ns() // 1_000_000 - 3_600_000
    decisions = [decision(f"c{i}", now + i, score=0.9 if i < 2 else 0.1, model_version=active,
                          shadow_score=0.8 if 2 <= i < 5 else 0.1, shadow_model_version=shadow,
                          device_id="dev-ring" if i < 3 else None)
                 for i in range(50)]
    decisions.append(decision("old", now - 30 * 86_400_000, shadow_score=0.9,
                              model_version=active, shadow_model_version=shadow))
    with_db(db_settings, lambda connection: ReportingWriter(connection).write(decisions))
    labels = tmp_path / "labels.csv"
    labels.write_text("tx_id,is_fraud\n" + "".join(f"c{i},1\n" for i in range(5)))
    assert _label(db_settings, labels).returncode == 0
    _sink(db_settings)
    # The labels sink also gave the workers' features their label-risk entries: the destination's,
    # the payer's and the device's (agents/fraud/labelrisk.py; the device from the reporting
    # row, Decision v3), and removes them when a fraud is reversed.
    redis = Redis.from_url(db_settings.redis_url)
    try:
        destination = label_risk_key(db_settings.topic_prefix, "shop-1")
        payer = label_risk_key(db_settings.topic_prefix, "acc-a")
        held = [Entry.parse(m.decode(), s) for m, s in redis.zrange(destination, 0, -1, withscores=True)]
        assert sorted(e.tx_id for e in held) == [f"c{i}" for i in range(5)]
        assert {e.role for e in held} == {"d"} and {e.payer for e in held} == {"acc-a"}
        assert all(e.event_ms == now + int(e.tx_id[1:]) for e in held)
        assert redis.zcard(payer) == 5 and redis.pttl(destination) > 80 * 86_400_000
        device = label_risk_key(db_settings.topic_prefix, device_name("dev-ring"))
        used = [Entry.parse(m.decode(), s) for m, s in redis.zrange(device, 0, -1, withscores=True)]
        assert sorted(e.tx_id for e in used) == ["c0", "c1", "c2"] and {e.role for e in used} == {"v"}
        reversed_ = tmp_path / "reversed.csv"
        reversed_.write_text(f"tx_id,is_fraud,reported_at\nc0,0,{time.time_ns() // 1_000_000 + 1000}\n")
        assert _label(db_settings, reversed_).returncode == 0
        _sink(db_settings)
        assert redis.zcard(destination) == 4 and redis.zcard(payer) == 4 and redis.zcard(device) == 2
    finally:
        redis.close()
        clean_redis_namespace(db_settings.redis_url, db_settings.topic_prefix)
    result = run(db_settings, "model", "compare", "--models-dir", str(models), timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["transactions"] == 50 and report["labelled_fraud"] == 4  # c0 reversed; old: out
    assert (report["active"]["recall"], report["shadow"]["recall"]) == (0.25, 0.75)
    assert report["active"]["versions"] == {active: 50} and report["agreement"] == 0.9


def test_a_label_that_came_before_its_transaction_is_applied_once_the_transaction_is_known(
        db_settings: Settings, tmp_path: Path) -> None:
    import time

    from sinks.reporting import ReportingWriter
    from tests.integration.test_sinks import decision

    early = tmp_path / "early.csv"
    early.write_text("tx_id,is_fraud\nearly-1,1\n")
    assert _label(db_settings, early).returncode == 0
    _sink(db_settings)  # lands, but nothing knows its payer and destination yet
    destination = label_risk_key(db_settings.topic_prefix, "shop-1")
    redis = Redis.from_url(db_settings.redis_url)
    try:
        assert redis.zcard(destination) == 0
        at = time.time_ns() // 1_000_000 - 60_000
        with_db(db_settings, lambda connection: ReportingWriter(connection).write([decision("early-1", at)]))
        _sink(db_settings)  # no new label: the idle sink's sweep applies it
        assert [Entry.parse(m.decode(), s).tx_id for m, s in redis.zrange(destination, 0, -1, withscores=True)] \
            == ["early-1"]
    finally:
        redis.close()
        clean_redis_namespace(db_settings.redis_url, db_settings.topic_prefix)


def test_labels_of_history_paystream_never_decided_feed_the_features(db_settings: Settings,
                                                                     tmp_path: Path) -> None:
    """The operator's own history: labels of transactions from before paystream ran take their
    payer, destination and time from the history file (--transactions) or from their own
    columns, and reach the label-risk sets with no reporting row."""
    import json

    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(
        {"tx_id": f"h{i}", "type": "PAYMENT", "source_account": f"card-{i}",
         "destination_account": "terminal-7", "amount": 1200, "currency": "EUR",
         "event_time": 1_790_000_000_000 + i, "country": "FR", "channel": "POS",
         "device_id": f"pos-{i}"}) + "\n"
        for i in range(3)) + "not json\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("tx_id,is_fraud,reported_at\nh0,1,1790600000000\nh1,1,1790600000000\n"
                      "unknown,1,1790600000000\n")
    sent = run(db_settings, "label", "--input", str(labels), "--transactions", str(history),
               "--json", timeout=120)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == {"sent": 3, "failed": 0, "bad_lines": 0,
                                       "found_in_transactions": 2}
    own = tmp_path / "own.csv"  # the transaction's fields in the label file itself
    own.write_text("tx_id,is_fraud,source_account,destination_account,event_time,device_id\n"
                   "h2,1,card-2,terminal-7,2026-09-21T12:00:00Z,phone-2\n"
                   "h3,1,card-3,,2026-09-21T12:00:00Z,\n")
    partial = _label(db_settings, own)
    assert partial.returncode == 1 and "line 3: destination_account" in partial.stderr
    _sink(db_settings)
    redis = Redis.from_url(db_settings.redis_url)
    try:
        terminal = label_risk_key(db_settings.topic_prefix, "terminal-7")
        held = {e.tx_id: e for e in (Entry.parse(m.decode(), s) for m, s
                                     in redis.zrange(terminal, 0, -1, withscores=True))}
        assert sorted(held) == ["h0", "h1", "h2"]  # "unknown" waits for its transaction
        assert (held["h1"].payer, held["h1"].event_ms, held["h1"].reported_ms) == \
            ("card-1", 1_790_000_000_001, 1_790_600_000_000)
        assert held["h2"].event_ms == 1_789_992_000_000  # 2026-09-21T12:00:00Z
        assert redis.zcard(label_risk_key(db_settings.topic_prefix, "card-0")) == 1
        for device, tx_id in (("pos-1", "h1"), ("phone-2", "h2")):  # FraudLabel v3's device
            key = label_risk_key(db_settings.topic_prefix, device_name(device))
            assert [m.decode().split("|")[1] for m in redis.zrange(key, 0, -1)] == [tx_id]
    finally:
        redis.close()
        clean_redis_namespace(db_settings.redis_url, db_settings.topic_prefix)
