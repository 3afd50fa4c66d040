"""Each behaviour of the authorize/settle/review agents, through real worker processes.

Two workers share the partitions, so a transfer's credit can be applied by the other worker.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from redis.asyncio import Redis

from paystream.launch import run
from streams.accounts import read_tx_records, scan_accounts
from streams.codec import SingleObjectCodec, load_versions
from streams.partitioning import partition_for
from streams.records import Channel, Transaction, TransactionType
from streams.settings import Settings
from streams.topics import delete_topics, topics
from tests.conftest import clean_redis_namespace
from tests.e2e.harness import Worker, reconcile
from tests.integration.kafka_reader import read_messages

pytestmark = pytest.mark.integration
TX = SingleObjectCodec(load_versions("transaction"))
DECISION = SingleObjectCodec(load_versions("decision"))
OUTCOME = SingleObjectCodec(load_versions("payout_outcome"))
RESULT = SingleObjectCodec(load_versions("payout_result"))
HOLD_AGE_S = 20  # long enough for two CLI start-ups on a loaded machine
RULES = f"""
[limits]
review_amount = 50000
decline_amount = 900000
hold_max_age_s = {HOLD_AGE_S}
payout_deadline_s = {HOLD_AGE_S}
[lists]
block_countries = ["KP"]
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def transfer(tx_id: str, source: str, destination: str, amount: int, **changes: Any) -> Transaction:
    fields = dict(tx_id=tx_id, type=TransactionType.TRANSFER, source_account=source,
                  destination_account=destination, amount=amount, currency="EUR",
                  event_time=now_ms() - 1_000, channel=Channel.MOBILE, country="DE")
    fields.update(changes)
    return Transaction(**fields)  # type: ignore[arg-type]


def deposit(tx_id: str, account: str, amount: int) -> Transaction:
    return transfer(tx_id, "sys:settlement:EUR", account, amount, type=TransactionType.DEPOSIT,
                    channel=Channel.API)


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = topics(settings.topic_prefix, settings.partitions)
        self._producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                   "partitioner": "murmur2_random"})

    def send(self, *txs: Transaction) -> None:
        for t in txs:
            self.raw(TX.encode(t.to_record()), t.partition_key.encode())

    def raw(self, value: bytes, key: bytes) -> None:
        self._producer.produce(self.names.transactions.name, value, key)
        assert self._producer.flush(30) == 0

    def tx_records(self, *ids: str) -> dict[str, dict[str, str]]:
        async def read() -> dict[str, dict[str, str]]:
            redis = Redis.from_url(self.settings.redis_url)
            try:
                return await read_tx_records(redis, self.settings.topic_prefix, list(ids))
            finally:
                await redis.aclose()
        return asyncio.run(read())

    def balances(self, currency: str = "EUR") -> dict[str, int]:
        async def read() -> dict[str, int]:
            redis = Redis.from_url(self.settings.redis_url)
            try:
                accounts = await scan_accounts(redis, self.settings.topic_prefix)
            finally:
                await redis.aclose()
            return {name: state.balance(currency) for name, state in accounts.items()}
        return asyncio.run(read())

    def outcome(self, tx_id: str, status: str) -> None:
        """A receive partner's answer, as the API would publish it."""
        record = {"callback_id": f"cb-{tx_id}-{status}", "tx_id": tx_id, "source_account": "acc-a",
                  "partner": "mpesa-ke", "status": status, "partner_reference": None,
                  "reason": None, "received_at": now_ms()}
        self._producer.produce(self.names.payout_outcomes.name, OUTCOME.encode(record), b"acc-a")
        assert self._producer.flush(30) == 0

    def wait_status(self, tx_id: str, status: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.tx_records(tx_id).get(tx_id, {}).get("s") != status:
            assert time.monotonic() < deadline, f"{tx_id} never reached {status}: {self.tx_records(tx_id)}"
            time.sleep(0.3)

    def owners(self) -> dict[int, str]:
        """partition of the transactions topic -> consumer group member that owns it."""
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap_servers})
        group = f"{self.settings.topic_prefix}paystream"
        try:
            description = admin.describe_consumer_groups([group])[group].result()
        except KafkaException:  # a broker started seconds ago has no group coordinator yet
            return {}
        return {tp.partition: member.member_id for member in description.members
                for tp in member.assignment.topic_partitions
                if tp.topic == self.names.transactions.name}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str,
            redis_url: str) -> Iterator[Pipeline]:
    from confluent_kafka.admin import AdminClient as Admin

    from streams.settings import load_settings
    from streams.topics import create_topics

    directory = tmp_path_factory.mktemp("workers")
    rules = directory / "rules.toml"
    rules.write_text(RULES)
    quotes = directory / "quotes.toml"
    quotes.write_text(f'version = "test"\n[[quote]]\nid = "q-eur-kes"\nsell = "EUR"\nbuy = "KES"\n'
                      f'rate = "140.25"\nexpires_at = {now_ms() + 3_600_000}\n')
    prefix = f"tw{time.time_ns() % 10**9}."
    settings = load_settings().model_copy(update={
        "kafka_bootstrap_servers": kafka_bootstrap, "redis_url": redis_url, "topic_prefix": prefix,
        "models_dir": str(tmp_path_factory.mktemp("models"))})  # rules only: these are rule tests
    admin = Admin({"bootstrap.servers": kafka_bootstrap})
    specs = topics(prefix, settings.partitions).all()
    create_topics(admin, specs)
    env = {"PAYSTREAM_RULES_PATH": str(rules), "PAYSTREAM_QUOTES_PATH": str(quotes)}
    workers = [Worker(settings, directory, name, ("--hold-sweep-s", "1"), env)
               for name in ("w1", "w2")]
    try:  # a setup that fails must not leave the workers running (two did, for hours)
        for worker in workers:
            worker.start()
        pipeline = Pipeline(settings)
        deadline = time.monotonic() + 90
        while len(set(pipeline.owners().values())) < 2 or len(pipeline.owners()) < settings.partitions:
            assert time.monotonic() < deadline, "two workers never shared the partitions"
            assert all(w.alive() for w in workers), f"a worker died; logs in {directory}"
            time.sleep(0.5)
        pipeline.send(deposit("fund-a", "acc-a", 1_000_000))
        pipeline.wait_status("fund-a", "APPROVED")
        yield pipeline
    finally:
        for worker in workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.stop()
        delete_topics(admin, [s.name for s in specs])

    clean_redis_namespace(redis_url, prefix)


def decision_of(pipeline: Pipeline, tx_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The decision for `tx_id` (all copies of it must agree)."""
    from confluent_kafka import Consumer

    from agents.reconcile import read_topic

    consumer = Consumer({"bootstrap.servers": pipeline.settings.kafka_bootstrap_servers,
                         "group.id": "test-decisions", "enable.auto.commit": False})
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            found = [d for d in (DECISION.decode(m.value())
                                 for m in read_topic(consumer, pipeline.names.decisions.name))
                     if d["tx_id"] == tx_id]
            if found:
                assert len({(d["outcome"], tuple(d["reasons"])) for d in found}) == 1, found
                return found[0]
            assert time.monotonic() < deadline, f"no decision for {tx_id}"
            time.sleep(0.5)
    finally:
        consumer.close()


def test_approve_debits_and_credits(running: Pipeline) -> None:
    running.send(transfer("ok-1", "acc-a", "acc-b", 1_000))
    assert decision_of(running, "ok-1")["outcome"] == "APPROVE"
    running.wait_status("ok-1", "APPROVED")
    deadline = time.monotonic() + 30
    while running.balances().get("acc-b") != 1_000:
        assert time.monotonic() < deadline, running.balances()
        time.sleep(0.3)


def test_decline_for_funds_and_by_rule(running: Pipeline) -> None:
    running.send(transfer("poor-1", "acc-poor", "acc-b", 5_000),
                 transfer("kp-1", "acc-a", "acc-b", 500, country="KP"))
    assert decision_of(running, "poor-1")["reasons"] == ["insufficient_funds"]
    kp = decision_of(running, "kp-1")
    assert (kp["outcome"], kp["reasons"]) == ("DECLINE", ["block:country"])


def _cli(pipeline: Pipeline, *args: str) -> Any:

    return run(pipeline.settings, *args, timeout=60)


def test_review_then_approve_and_review_then_decline(running: Pipeline) -> None:
    running.send(transfer("rv-yes", "acc-a", "acc-c", 60_000),
                 transfer("rv-no", "acc-a", "acc-c", 70_000))
    assert decision_of(running, "rv-yes")["outcome"] == "REVIEW"
    running.wait_status("rv-yes", "HELD")
    running.wait_status("rv-no", "HELD")
    assert _cli(running, "review", "approve", "rv-yes").returncode == 0
    assert _cli(running, "review", "decline", "rv-no").returncode == 0
    running.wait_status("rv-yes", "REVIEW_APPROVED", timeout_s=HOLD_AGE_S - 1)
    running.wait_status("rv-no", "REVIEW_DECLINED", timeout_s=HOLD_AGE_S - 1)
    refused = _cli(running, "review", "approve", "rv-yes")
    assert refused.returncode == 1 and "not held" in refused.stderr


def test_hold_nobody_decides_expires(running: Pipeline) -> None:
    running.send(transfer("rv-late", "acc-a", "acc-c", 55_000))
    running.wait_status("rv-late", "HELD")
    running.wait_status("rv-late", "EXPIRED", timeout_s=HOLD_AGE_S + 30)


def payout(tx_id: str, quote: str = "q-eur-kes") -> Transaction:
    from streams.records import Payout

    return transfer(tx_id, "acc-a", "sys:partner:mpesa-ke", 2_000, type=TransactionType.PAYOUT,
                    payout=Payout("wallet-fr", "mpesa-ke", "ben-1", 280_500, "KES", "140.25", quote))


def test_a_payout_waits_for_its_partner_and_expires_unanswered(running: Pipeline) -> None:
    running.send(payout("po-ok", "q-eur-kes"), payout("po-unquoted", "q-none"))
    assert decision_of(running, "po-ok")["outcome"] == "PENDING"
    assert decision_of(running, "po-unquoted")["reasons"] == ["payout:quote_unknown"]
    running.wait_status("po-ok", "HELD")
    refused = _cli(running, "review", "approve", "po-ok")  # no reviewer can post a payout
    running.wait_status("po-ok", "EXPIRED", timeout_s=HOLD_AGE_S + 30)
    assert running.tx_records("po-ok")["po-ok"]["s"] == "EXPIRED", refused.stderr


def test_a_payout_settles_on_its_partners_word_once(running: Pipeline) -> None:
    from agents.reconcile import read_topic

    running.send(payout("po-yes"), payout("po-no"))
    running.wait_status("po-yes", "HELD")
    running.wait_status("po-no", "HELD")
    for tx_id, status in (("po-yes", "SUCCESS"), ("po-no", "FAILURE"), ("po-yes", "SUCCESS"),
                          ("po-no", "SUCCESS")):  # a repeat, and a SUCCESS after the FAILURE
        running.outcome(tx_id, status)
    running.wait_status("po-yes", "PAYOUT_SUCCEEDED")
    running.wait_status("po-no", "PAYOUT_FAILED")
    consumer = Consumer({"bootstrap.servers": running.settings.kafka_bootstrap_servers,
                         "group.id": "test-payout-results", "enable.auto.commit": False})
    try:
        deadline = time.monotonic() + 30
        while True:
            ended = [RESULT.decode(m.value()) for m in read_topic(consumer, running.names.payout_results.name)]
            ends = sorted((r["tx_id"], r["status"]) for r in ended if r["tx_id"] in ("po-yes", "po-no"))
            if len(ends) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        consumer.close()
    assert ends == [("po-no", "FAILURE"), ("po-yes", "SUCCESS")]  # each told once
    p = partition_for("acc-a", running.settings.partitions)
    balances = running.balances("KES")
    assert balances[f"sys:partner:mpesa-ke:p{p:02d}"] == 280_500  # only po-yes's
    assert balances[f"sys:fx:KES:p{p:02d}"] == -280_500


def test_duplicate_conflict_and_stale(running: Pipeline) -> None:
    original = transfer("dup-1", "acc-a", "acc-b", 700)
    running.send(original)
    running.wait_status("dup-1", "APPROVED")
    running.send(original, transfer("dup-1", "acc-a", "acc-b", 701, event_time=original.event_time),
                 transfer("old-1", "acc-a", "acc-b", 10, event_time=now_ms() - 3 * 86_400_000))
    letters = _dead_letters(running, 2)
    assert {h["reason"] for h in letters} >= {b"conflict", b"stale"}
    assert decision_of(running, "dup-1")["amount"] == 700


def _dead_letters(pipeline: Pipeline, at_least: int) -> list[dict[str, bytes]]:
    messages = read_messages(pipeline.settings.kafka_bootstrap_servers, pipeline.names.dlq.name,
                             at_least, timeout_s=60)
    return [dict(m.headers()) for m in messages]


def test_each_dead_letter_reason(running: Pipeline) -> None:
    good = TX.encode(transfer("dl-good", "acc-a", "acc-b", 5).to_record())
    cases = {
        b"not_avro": b'{"tx_id": "json"}',
        b"bad_magic": b"\xc3\x02" + good[2:],
        b"unknown_schema": b"\xc3\x01" + struct.pack("<Q", 12345) + good[10:],
        b"truncated": good[:-3],
        b"schema_mismatch": good + b"\x00",
        b"invalid:amount": TX.encode(transfer("dl-zero", "acc-a", "acc-b", 1).to_record()
                                     ).replace(b"\x02\x06EUR", b"\x00\x06EUR"),
        b"invalid:key": good,
    }
    for reason, value in cases.items():
        running.raw(value, b"acc-zzz" if reason == b"invalid:key" else b"acc-a")
    deadline = time.monotonic() + 60
    while True:
        seen = {h["reason"] for h in _dead_letters(running, 1)}
        if set(cases) <= seen:
            break
        assert time.monotonic() < deadline, f"missing {set(cases) - seen}"
        time.sleep(0.5)
    letters = read_messages(running.settings.kafka_bootstrap_servers, running.names.dlq.name, 7)
    by_reason = {dict(m.headers())["reason"]: m for m in letters}
    assert by_reason[b"truncated"].value() == good[:-3]  # original bytes untouched


def test_deposit_and_withdrawal(running: Pipeline) -> None:
    running.send(deposit("dep-d", "acc-d", 9_000),
                 transfer("wd-d", "acc-d", "sys:settlement:EUR", 4_000,
                          type=TransactionType.WITHDRAWAL, channel=Channel.ATM))
    running.wait_status("wd-d", "APPROVED")
    assert running.balances()["acc-d"] == 5_000


def test_credit_lands_on_the_other_workers_partition(running: Pipeline) -> None:
    owners = running.owners()
    partitions = running.settings.partitions
    source = "acc-a"
    destination = next(f"acc-far-{i}" for i in range(10_000)
                       if owners[partition_for(f"acc-far-{i}", partitions)]
                       != owners[partition_for(source, partitions)])
    running.send(transfer("far-1", source, destination, 2_500))
    deadline = time.monotonic() + 30
    while running.balances().get(destination) != 2_500:
        assert time.monotonic() < deadline, "the other worker never credited the destination"
        time.sleep(0.3)


def test_reconcile_agrees_after_everything(running: Pipeline) -> None:
    time.sleep(1)
    code, summary = reconcile(running.settings, wait_s=60)
    assert summary["problems"] == {} and code == 0, summary
