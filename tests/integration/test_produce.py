"""Producing through real Kafka: what upstream producers rely on."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import fastavro
import pytest

from paystream.launch import run
from streams.codec import SingleObjectCodec, load_versions
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.partitioning import partition_for
from streams.producer import TransactionProducer, publish, write_encoded
from streams.records import Transaction
from streams.settings import Settings
from streams.topics import create_topics, topics
from tests.integration.kafka_reader import read_messages

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_10k_generated_transactions_come_back_field_for_field(stack_settings: Settings) -> None:
    sent = [tx for tx, _ in TrafficGenerator(GeneratorConfig(seed=11, accounts=2_000)).generate(10_000)]
    producer = TransactionProducer.from_settings(stack_settings)
    report = publish(producer, sent)
    assert (report.sent, report.failed, report.undelivered) == (10_000, 0, 0)

    messages = read_messages(stack_settings.kafka_bootstrap_servers, producer.topic, 10_000)
    codec = SingleObjectCodec(load_versions("transaction"))
    received = {}
    partition_of_key: dict[bytes, int] = {}
    order_by_partition: dict[int, list[str]] = defaultdict(list)
    for message in messages:
        tx = Transaction.from_record(codec.decode(message.value()))
        received[tx.tx_id] = tx
        assert message.key() == tx.partition_key.encode()
        # every account lives in exactly one partition, the one murmur2 names
        assert partition_of_key.setdefault(message.key(), message.partition()) == message.partition()
        assert message.partition() == partition_for(message.key(), stack_settings.partitions)
        order_by_partition[message.partition()].append(tx.tx_id)
    assert len(received) == 10_000
    assert received == {tx.tx_id: tx for tx in sent}
    # the idempotent producer keeps each partition in send order
    position = {tx.tx_id: i for i, tx in enumerate(sent)}
    for ids in order_by_partition.values():
        assert ids == sorted(ids, key=position.__getitem__)


def _cli(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run(settings, *args, input=stdin, timeout=300)


def test_cli_produce_reports_and_writes_labels(stack_settings: Settings, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    result = _cli(stack_settings, "produce", "--count", "3000", "--seed", "5",
                  "--fraud-share", "0.05", "--labels-out", str(labels), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sent"] == 3000 and report["failed"] == 0 and report["rate_per_s"] > 0
    rows = list(csv.DictReader(labels.open()))
    assert len(rows) == 3000
    assert {row["is_fraud"] for row in rows} == {"0", "1"}
    messages = read_messages(stack_settings.kafka_bootstrap_servers,
                             topics(stack_settings.topic_prefix).transactions.name, 3000)
    codec = SingleObjectCodec(load_versions("transaction"))
    assert {codec.decode(m.value())["tx_id"] for m in messages} == {row["tx_id"] for row in rows}
    # labels never travel in the message
    assert not any(b"fraud" in m.value() or b"scenario" in m.value() for m in messages)


def test_cli_produce_publishes_each_fraud_label_once_the_traffic_reaches_its_report(
        stack_settings: Settings, tmp_path: Path) -> None:
    """--publish-labels: a chargeback per fraud, sent when the traffic's clock passed its
    reported_at (event time + --label-delay-days), so a worker sees it before later payments."""
    labels = tmp_path / "labels.csv"
    result = _cli(stack_settings, "produce", "--count", "6000", "--seed", "5",
                  "--fraud-share", "0.05", "--labels-out", str(labels), "--label-delay-days",
                  "0.05", "--publish-labels", "--json")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(labels.open()))
    last_event = max(int(row["reported_at"]) for row in rows) - int(0.05 * 86_400_000)
    due = {row["tx_id"]: int(row["reported_at"]) for row in rows
           if row["is_fraud"] == "1" and int(row["reported_at"]) <= last_event}
    assert json.loads(result.stdout)["labels_published"] == len(due) > 20
    codec = SingleObjectCodec(load_versions("fraud_label"))
    messages = read_messages(stack_settings.kafka_bootstrap_servers,
                             topics(stack_settings.topic_prefix).labels.name, len(due))
    published = {m.key().decode(): codec.decode(m.value()) for m in messages}
    assert {tx_id: label["reported_at"] for tx_id, label in published.items()} == due
    assert all(label["is_fraud"] and label["source"] == "CHARGEBACK" for label in published.values())
    sidecar = json.loads(labels.with_name(labels.name + ".generator.json").read_text())
    assert sidecar["labels_published"] is True and sidecar["label_delay_days"] == 0.05


def test_produced_message_decodes_with_plain_fastavro_and_the_schema_file(
        stack_settings: Settings) -> None:
    """Follows the single-object encoding spec by hand: no paystream code reads the bytes."""
    result = _cli(stack_settings, "produce", "--count", "20", "--seed", "3")
    assert result.returncode == 0, result.stderr
    message = read_messages(stack_settings.kafka_bootstrap_servers,
                            topics(stack_settings.topic_prefix).transactions.name, 1)[0]
    data = message.value()
    schema = json.loads((SCHEMAS / "transaction.v3.avsc").read_text())
    fingerprint = fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO")
    assert data[:2] == b"\xc3\x01", "single-object marker"
    assert data[2:10].hex() == fingerprint, "little-endian CRC-64-AVRO of the canonical form"
    body = io.BytesIO(data[10:])
    record = fastavro.schemaless_reader(body, fastavro.parse_schema(schema))
    assert body.tell() == len(data) - 10
    assert record["tx_id"].startswith("tx-") and record["amount"] > 0
    assert message.key().decode() in (record["source_account"], record["destination_account"])


def test_json_lines_bad_line_is_reported_and_the_rest_goes(stack_settings: Settings) -> None:
    now_ms = time.time_ns() // 1_000_000
    good = {"tx_id": "j-1", "type": "TRANSFER", "source_account": "acc-1",
            "destination_account": "acc-2", "amount": 500, "currency": "EUR",
            "event_time": now_ms, "country": "FR"}
    lines = [json.dumps(good),
             json.dumps({**good, "tx_id": "j-2", "amount": 0}),
             "{broken",
             json.dumps({**good, "tx_id": "j-4", "currency": "EURO"}),
             json.dumps({**good, "tx_id": "j-5"})]
    result = _cli(stack_settings, "produce", "--input", "-", "--json", stdin="\n".join(lines))
    assert result.returncode == 1
    assert "line 2: amount=0" in result.stderr
    assert "line 3: line=" in result.stderr
    assert "line 4: currency='EURO'" in result.stderr
    report = json.loads(result.stdout)
    assert (report["sent"], report["invalid_lines"]) == (2, 3)
    messages = read_messages(stack_settings.kafka_bootstrap_servers,
                             topics(stack_settings.topic_prefix).transactions.name, 2)
    codec = SingleObjectCodec(load_versions("transaction"))
    assert sorted(codec.decode(m.value())["tx_id"] for m in messages) == ["j-1", "j-5"]


def test_topics_create_is_idempotent_and_aligns_configs(stack_settings: Settings) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
    specs = topics(stack_settings.topic_prefix, stack_settings.partitions).all()
    again = create_topics(admin, specs)  # the fixture already created them once
    assert again.created == [] and sorted(again.existed) == sorted(s.name for s in specs)
    assert again.partition_mismatch == []

    dlq = topics(stack_settings.topic_prefix).dlq
    resource = ConfigResource(ConfigResource.Type.TOPIC, dlq.name)
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["retention.ms"].value == dlq.config["retention.ms"]
    metadata = admin.list_topics(dlq.name, timeout=10).topics[dlq.name]
    assert len(metadata.partitions) == stack_settings.partitions


def test_topics_create_restores_a_drifted_config(stack_settings: Settings) -> None:
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    admin = AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
    dlq = topics(stack_settings.topic_prefix).dlq
    drift = ConfigResource(ConfigResource.Type.TOPIC, dlq.name, incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([drift])[drift].result()
    resource = ConfigResource(ConfigResource.Type.TOPIC, dlq.name)
    deadline = time.monotonic() + 10  # the broker applies config changes asynchronously
    while admin.describe_configs([resource])[resource].result()["retention.ms"].value != "60000":
        assert time.monotonic() < deadline, "the drift never became visible"
        time.sleep(0.1)

    report = create_topics(admin, topics(stack_settings.topic_prefix).all())
    assert report.reconfigured == [dlq.name]
    assert admin.describe_configs([resource])[resource].result()["retention.ms"].value == \
        dlq.config["retention.ms"]


def test_producing_to_topics_that_do_not_exist_fails_at_once_naming_the_topic(
        stack_settings: Settings) -> None:
    missing = stack_settings.model_copy(update={"topic_prefix": f"nosuch{os.getpid()}."})
    started = time.monotonic()
    result = _cli(missing, "produce", "--count", "10")
    assert result.returncode != 0
    assert time.monotonic() - started < 20, "waited for message.timeout.ms instead of failing"
    topic = topics(missing.topic_prefix).transactions.name
    assert f"topic '{topic}' does not exist" in result.stderr
    assert "paystream topics create" in result.stderr


def test_an_acked_publisher_publishes_a_group_with_one_wait_and_from_two_threads(
        stack_settings: Settings) -> None:
    # The payout watch publishes a round's answers with publish_all; the API publishes one
    # callback at a time from many threads. Every record is acknowledged, readable, keyed by the
    # account that holds the money.
    from concurrent.futures import ThreadPoolExecutor

    from streams.codec import codec_for
    from streams.producer import AckedPublisher

    publisher = AckedPublisher(stack_settings, "payout_outcomes", "payout_outcome")

    def callback(n: int) -> dict:
        return {"callback_id": f"cb-{n}", "tx_id": f"tx-{n}", "source_account": f"acc-{n % 7}",
                "partner": "mpesa-ke", "status": "SUCCESS" if n % 2 else "FAILURE",
                "partner_reference": None, "reason": None, "received_at": 1_700_000_000_000 + n}

    assert publisher.publish_all([callback(n) for n in range(200)]) == [None] * 200
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: publisher.publish(callback(n)), range(200, 264)))
    assert publisher.publish_all([]) == []
    publisher.close()

    messages = read_messages(stack_settings.kafka_bootstrap_servers, publisher.topic, 264)
    codec = codec_for("payout_outcome", publisher.topic, None)
    got = {codec.decode(m.value())["callback_id"]: m for m in messages}
    assert sorted(got) == sorted(f"cb-{n}" for n in range(264))
    assert all(m.key() == f"acc-{int(cb[3:]) % 7}".encode() for cb, m in got.items())


def _encoded_traffic(settings: Settings, count: int, path: Path) -> list[tuple[bytes, bytes]]:
    producer = TransactionProducer.from_settings(settings)
    generated = TrafficGenerator(GeneratorConfig(seed=5, accounts=1_000)).generate(count)
    records = [producer.encode(tx) for tx, _ in generated]
    write_encoded(path, records)
    return records


def test_a_replay_publishes_the_file_byte_for_byte_where_librdkafka_would_in_order(
        stack_settings: Settings, tmp_path: Path) -> None:
    # The load generator's path (streams/replay.py): aiokafka record batches, one request per
    # broker. Readers rely on the same bytes, the same partition (murmur2 of the key) and each
    # partition in file order.
    records = _encoded_traffic(stack_settings, 20_000, tmp_path / "load.bin")
    result = _cli(stack_settings, "produce", "--replay", str(tmp_path / "load.bin"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["failed"]) == (20_000, 0)

    topic = topics(stack_settings.topic_prefix).transactions.name
    messages = read_messages(stack_settings.kafka_bootstrap_servers, topic, 20_000)
    assert len(messages) == 20_000
    position = {record: i for i, record in enumerate(records)}
    by_partition: dict[int, list[int]] = defaultdict(list)
    for message in messages:
        assert message.partition() == partition_for(message.key(), stack_settings.partitions)
        by_partition[message.partition()].append(position[(message.key(), message.value())])
    assert sorted(i for ids in by_partition.values() for i in ids) == list(range(20_000))
    for ids in by_partition.values():
        assert ids == sorted(ids)


def test_a_paced_replay_keeps_its_rate_and_stamps_each_record_when_it_was_due(
        stack_settings: Settings, tmp_path: Path) -> None:
    # The latency a load test reports is the decision's timestamp minus the input's: an input
    # stamped when its linger ended would hide that wait.
    _encoded_traffic(stack_settings, 3_000, tmp_path / "load.bin")
    started_ms = time.time() * 1000
    result = _cli(stack_settings, "produce", "--replay", str(tmp_path / "load.bin"),
                  "--rate", "2000", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["sent"] == 3_000
    assert 1.4 <= summary["elapsed_s"] <= 3.0  # 3,000 at 2,000/s

    topic = topics(stack_settings.topic_prefix).transactions.name
    stamps = sorted(m.timestamp()[1] for m in read_messages(
        stack_settings.kafka_bootstrap_servers, topic, 3_000))
    assert started_ms <= stamps[0] < started_ms + 5_000
    # evenly spread over 1.5 s: 1,000 records every 0.5 s (a millisecond either way)
    span = stamps[-1] - stamps[0]
    assert 1_400 <= span <= 1_600
    assert abs(sum(1 for s in stamps if s < stamps[0] + span / 2) - 1_500) <= 10


def test_a_replay_to_topics_that_do_not_exist_fails_at_once_naming_the_topic(
        stack_settings: Settings, tmp_path: Path) -> None:
    _encoded_traffic(stack_settings, 10, tmp_path / "load.bin")
    missing = stack_settings.model_copy(update={"topic_prefix": f"nosuch{os.getpid()}."})
    started = time.monotonic()
    result = _cli(missing, "produce", "--replay", str(tmp_path / "load.bin"))
    assert result.returncode != 0
    assert time.monotonic() - started < 20
    topic = topics(missing.topic_prefix).transactions.name
    assert f"topic '{topic}' does not exist" in result.stderr


def test_a_replay_in_many_rounds_and_split_batches_keeps_each_partition_in_order(
        stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rounds in flight together and a partition's records over several record batches: neither
    # may reorder a partition (an account's transactions) or lose a record.
    import asyncio

    from streams import recordbatches, replay

    monkeypatch.setattr(replay, "ROUND_MAX", 1_000)
    monkeypatch.setattr(recordbatches, "MAX_BATCH_BYTES", 4_096)  # ~30 records a batch
    records = _encoded_traffic(stack_settings, 20_000, tmp_path / "load.bin")
    report = asyncio.run(replay.publish_encoded(stack_settings, iter(records)))
    assert (report.sent, report.failed, report.undelivered) == (20_000, 0, 0)

    topic = topics(stack_settings.topic_prefix).transactions.name
    messages = read_messages(stack_settings.kafka_bootstrap_servers, topic, 20_000)
    position = {record: i for i, record in enumerate(records)}
    by_partition: dict[int, list[int]] = defaultdict(list)
    for message in messages:
        by_partition[message.partition()].append(position[(message.key(), message.value())])
    assert sorted(i for ids in by_partition.values() for i in ids) == list(range(20_000))
    for ids in by_partition.values():
        assert ids == sorted(ids)
