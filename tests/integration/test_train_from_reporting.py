"""`paystream train --from-reporting`: what the workers decided and the labels received since, as
the history to learn from (sinks/history.py)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.fraud.history import HistoryOptions, KnownLabel, train_on_history
from agents.rules import load_rules
from loadtest.othersim import SimConfig, simulate
from paystream.launch import run
from sinks.reporting import ReportingWriter
from streams.jsonlines import parse_line
from streams.settings import Settings
from tests.integration.test_sinks import decision, with_db

pytestmark = pytest.mark.integration


def _train(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run(settings, "train", *args, timeout=600)


def test_the_reporting_store_teaches_what_the_same_history_in_files_does(db_settings: Settings,
                                                                        tmp_path: Path) -> None:
    txs, fraud = simulate(SimConfig(days=40, customers=600, terminals=1_500, seed=3))
    transactions = [parse_line(json.dumps(tx)) for tx in txs]
    # The workers decided every transaction (their reporting rows, Decision v3 with the
    # device), and the chargebacks came in a week later.
    decided = [decision(tx.tx_id, tx.event_time, type=tx.type.value,
                        source_account=tx.source_account,
                        destination_account=tx.destination_account, amount=tx.amount,
                        currency=tx.currency, channel=tx.channel.value,
                        merchant_id=tx.merchant_id, merchant_category=tx.merchant_category,
                        country=tx.country, device_id=f"dev-{tx.source_account}")
               for tx in transactions]
    chargebacks = [(f["tx_id"], "CHARGEBACK", True,
                    datetime.fromtimestamp(f["reported_at"] / 1000, UTC)) for f in fraud]

    async def store(connection) -> None:  # type: ignore[no-untyped-def]
        writer = ReportingWriter(connection)
        for i in range(0, len(decided), 5_000):
            await writer.write(decided[i:i + 5_000])
        await connection.copy_records_to_table(
            "labels", records=chargebacks, columns=["tx_id", "source", "is_fraud", "reported_at"])

    with_db(db_settings, store)
    result = _train(db_settings, "--from-reporting", "--since", "2026-03-01", "--until",
                    "2026-06-01", "--delay-days", "7", "--models-dir", str(tmp_path / "reporting"))
    assert result.returncode == 0, result.stderr
    version = json.loads(result.stdout[:result.stdout.rindex("}") + 1])["version"]
    manifest = json.loads((tmp_path / "reporting" / version / "manifest.json").read_text())
    assert manifest["training"]["source"] == "reporting"
    assert manifest["training"]["labels_received"] == len(fraud)
    assert manifest["training"]["payments"] == len(transactions)

    # The same history given as files (with the same devices): the very same training rows.
    with_devices = [parse_line(json.dumps({**tx, "device_id": f"dev-{tx['source_account']}"}))
                    for tx in txs]
    labels = {f["tx_id"]: KnownLabel(True, f["scenario"], f["reported_at"]) for f in fraud}
    files = train_on_history(with_devices, labels, HistoryOptions(delay_days=7),
                             load_rules(None), tmp_path / "files", {"source": "files"})
    expected = json.loads((files.folder / "manifest.json").read_text())
    assert manifest["training"]["data_sha256"] == expected["training"]["data_sha256"]
    assert manifest["metrics"]["holdout"]["pr_auc"] == expected["metrics"]["holdout"]["pr_auc"]


def test_training_from_reporting_says_what_is_missing(db_settings: Settings) -> None:
    no_since = _train(db_settings, "--from-reporting")
    assert no_since.returncode == 2 and "--since" in no_since.stderr
    both = _train(db_settings, "--from-reporting", "--since", "2026-01-01", "--transactions",
                  __file__, "--labels", __file__)
    assert both.returncode == 2 and "not both" in both.stderr
    empty = _train(db_settings, "--from-reporting", "--since", "2020-01-01", "--until", "2020-02-01")
    assert empty.returncode != 0 and "holds no decided transaction" in empty.stderr
