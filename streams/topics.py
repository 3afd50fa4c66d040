"""Every Kafka topic paystream uses: its name, partitions and configs, and how to create them.

Creation is idempotent: an existing topic is left as it is, except that configs differing from
the spec are set (incrementally; other configs untouched). A partition count that differs is
reported, never changed: adding partitions would move accounts between partitions and break
the rule that one partition owns each account's balance.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from streams.errors import KafkaError

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    role: str  # stable name in code: "transactions", "decisions"...
    name: str  # real topic name, with the deployment's prefix
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True)
class Topics:
    """The deployment's topic names, by role. Build with `topics(prefix, partitions)`."""

    transactions: TopicSpec
    dlq: TopicSpec
    decisions: TopicSpec
    postings: TopicSpec
    credits: TopicSpec
    reviews: TopicSpec
    labels: TopicSpec
    payout_outcomes: TopicSpec
    payout_results: TopicSpec

    def all(self) -> list[TopicSpec]:
        return [self.transactions, self.dlq, self.decisions, self.postings, self.credits,
                self.reviews, self.labels, self.payout_outcomes, self.payout_results]


def topics(prefix: str = "", partitions: int = 12) -> Topics:
    def spec(role: str, name: str, retention_days: int, doc: str, **extra: str) -> TopicSpec:
        config = {
            "retention.ms": str(retention_days * DAY_MS),
            # lz4 batches from producers are stored as they come: no broker recompression.
            "compression.type": "producer",
            **extra,
        }
        return TopicSpec(role, prefix + name, partitions, config, doc)

    return Topics(
        transactions=spec("transactions", "transactions", 7,
                          "Avro Transaction from upstream producers; key = customer account."),
        dlq=spec("dlq", "transactions.dlq", 30,
                 "Inputs that could not be decoded or validated, bytes untouched, reason in headers."),
        decisions=spec("decisions", "decisions", 7,
                       "One Decision per tx_id; key = source account."),
        postings=spec("postings", "postings", 7,
                      "Every debit and credit leg with balance_after; key = account."),
        credits=spec("credits", "credits", 7,
                     "Credits to apply in the destination's partition; key = destination account."),
        reviews=spec("reviews", "reviews", 7,
                     "Reviewer approve/decline of held transactions; key = source account."),
        # A year: labels are what the next model is trained on, and they arrive for months.
        labels=spec("labels", "fraud-labels", 365,
                    "Avro FraudLabel (chargebacks, analysts', reviewers'); key = tx_id."),
        payout_outcomes=spec("payout_outcomes", "payout-outcomes", 30,
                             "Avro PayoutOutcome: receive partners' callbacks, as the API "
                             "verified them; key = sender account."),
        payout_results=spec("payout_results", "payout-results", 30,
                            "Avro PayoutResult: how each payout ended (SUCCESS, FAILURE, "
                            "EXPIRED; LATE_SUCCESS exceptions); key = sender account."),
    )


def message_count(consumer: Any, topic: str, timeout_s: float = 10.0) -> int:
    """Messages a topic holds now, all partitions (high minus low watermark of each).

    `consumer` is a confluent_kafka.Consumer (any group: nothing is consumed or committed).
    """
    from confluent_kafka import TopicPartition

    total = 0
    for partition in consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                   timeout=timeout_s)
        total += high - low
    return total


@dataclass
class CreateReport:
    created: list[str] = field(default_factory=list)
    existed: list[str] = field(default_factory=list)
    reconfigured: list[str] = field(default_factory=list)
    partition_mismatch: list[str] = field(default_factory=list)


def create_topics(admin: Any, specs: list[TopicSpec], timeout_s: float = 30.0) -> CreateReport:
    """Create the topics in `specs` that do not exist; align configs of those that do.

    `admin` is a confluent_kafka.admin.AdminClient.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    report = CreateReport()
    existing = admin.list_topics(timeout=timeout_s).topics
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, num_partitions=s.partitions, replication_factor=-1, config=s.config)
             for s in missing],
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result()
                report.created.append(name)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() != error.TOPIC_ALREADY_EXISTS:  # a concurrent creator won
                    raise KafkaError(f"creating topic {name}: {error.str()}", error.retriable()) from exc
                report.existed.append(name)
        _await_leaders(admin, report.created, timeout_s)
    for spec in specs:
        if spec.name not in existing:
            continue
        report.existed.append(spec.name)
        actual = len(existing[spec.name].partitions)
        if actual != spec.partitions:
            log.warning("topic %s has %d partitions, spec says %d; left unchanged",
                        spec.name, actual, spec.partitions)
            report.partition_mismatch.append(f"{spec.name}: {actual} != {spec.partitions}")
        if _align_config(admin, spec, timeout_s):
            report.reconfigured.append(spec.name)
    return report


def delete_topics(admin: Any, names: list[str], timeout_s: float = 30.0) -> None:
    """Delete the topics `names` and wait until the broker has; KafkaError names any it refused."""
    from confluent_kafka import KafkaException

    if not names:
        return
    for name, future in admin.delete_topics(names, request_timeout=timeout_s).items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0]
            raise KafkaError(f"deleting topic {name}: {error.str()}", error.retriable()) from exc


def _await_leaders(admin: Any, names: list[str], timeout_s: float) -> None:
    """Return once every partition of `names` has a leader: a created topic is usable then."""
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    while pending:
        metadata = admin.list_topics(timeout=timeout_s).topics
        pending = {
            name for name in pending
            if name not in metadata or metadata[name].error is not None
            or not metadata[name].partitions
            or any(p.leader < 0 for p in metadata[name].partitions.values())
        }
        if pending and time.monotonic() > deadline:
            raise KafkaError(f"topics without leaders after {timeout_s:.0f} s: {sorted(pending)}",
                             retriable=True)
        if pending:
            time.sleep(0.1)


def _align_config(admin: Any, spec: TopicSpec, timeout_s: float) -> bool:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    current = admin.describe_configs([resource], request_timeout=timeout_s)[resource].result()
    differing = {k: v for k, v in spec.config.items() if current[k].value != v}
    if not differing:
        return False
    resource = ConfigResource(
        ConfigResource.Type.TOPIC, spec.name,
        incremental_configs=[ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                             for k, v in differing.items()],
    )
    admin.incremental_alter_configs([resource], request_timeout=timeout_s)[resource].result()
    log.info("topic %s: set %s", spec.name, differing)
    return True
