"""`paystream label` to the fraud-labels topic, and the labels sink into PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from redis import Redis

from agents.fraud.labelrisk import Entry
from agents.store import label_risk_key
from streams.settings import Settings
from tests.conftest import clean_redis_namespace
from tests.e2e.harness import environment
from tests.integration.test_sinks import with_db

pytestmark = pytest.mark.integration


def _label(settings: Settings, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paystream", "label", "--input", str(path), *args],
                          env=environment(settings), capture_output=True, text=True, timeout=120, check=False)


def _sink(settings: Settings) -> None:
    result = subprocess.run([sys.executable, "-m", "paystream", "sink", "labels", "--idle-exit-s", "3"],
                            env=environment(settings), capture_output=True, text=True, timeout=120, check=False)
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
                          shadow_score=0.8 if 2 <= i < 5 else 0.1, shadow_model_version=shadow)
                 for i in range(50)]
    decisions.append(decision("old", now - 30 * 86_400_000, shadow_score=0.9,
                              model_version=active, shadow_model_version=shadow))
    with_db(db_settings, lambda connection: ReportingWriter(connection).write(decisions))
    labels = tmp_path / "labels.csv"
    labels.write_text("tx_id,is_fraud\n" + "".join(f"c{i},1\n" for i in range(5)))
    assert _label(db_settings, labels).returncode == 0
    _sink(db_settings)
    # The labels sink also gave the workers' features their label-risk entries: the destination's
    # and the payer's (agents/fraud/labelrisk.py), and removes them when a fraud is reversed.
    redis = Redis.from_url(db_settings.redis_url)
    try:
        destination = label_risk_key(db_settings.topic_prefix, "shop-1")
        payer = label_risk_key(db_settings.topic_prefix, "acc-a")
        held = [Entry.parse(m.decode(), s) for m, s in redis.zrange(destination, 0, -1, withscores=True)]
        assert sorted(e.tx_id for e in held) == [f"c{i}" for i in range(5)]
        assert {e.role for e in held} == {"d"} and {e.payer for e in held} == {"acc-a"}
        assert all(e.event_ms == now + int(e.tx_id[1:]) for e in held)
        assert redis.zcard(payer) == 5 and redis.pttl(destination) > 80 * 86_400_000
        reversed_ = tmp_path / "reversed.csv"
        reversed_.write_text(f"tx_id,is_fraud,reported_at\nc0,0,{time.time_ns() // 1_000_000 + 1000}\n")
        assert _label(db_settings, reversed_).returncode == 0
        _sink(db_settings)
        assert redis.zcard(destination) == 4 and redis.zcard(payer) == 4
    finally:
        redis.close()
        clean_redis_namespace(db_settings.redis_url, db_settings.topic_prefix)
    result = subprocess.run([sys.executable, "-m", "paystream", "model", "compare", "--models-dir",
                             str(models)], env=environment(db_settings), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["transactions"] == 50 and report["labelled_fraud"] == 4  # c0 reversed; old: out
    assert (report["active"]["recall"], report["shadow"]["recall"]) == (0.25, 0.75)
    assert report["active"]["versions"] == {active: 50} and report["agreement"] == 0.9
