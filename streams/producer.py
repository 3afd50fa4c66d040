"""The producer library upstream systems use to publish transactions.

    from streams.producer import TransactionProducer, publish
    with TransactionProducer.from_settings(settings()) as producer:
        producer.send(tx)

Idempotent producer (acks=all, so retries never duplicate or reorder within a partition), lz4,
keyed by the customer account (`Transaction.partition_key`) with the Java-compatible murmur2
partitioner, so an account lands in the same partition number on every paystream topic whoever
produced it (aiokafka and Faust use murmur2 too). The tx_id is the idempotency key end to end:
resending a transaction after an unclear failure is always safe.
"""

from __future__ import annotations

import logging
import resource
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Producer

from streams.codec import Codec, codec_for
from streams.errors import ConfigError, KafkaError
from streams.labels import label
from streams.records import Transaction
from streams.settings import Settings, kafka_client_config, kafka_security
from streams.topics import topics

log = logging.getLogger(__name__)

#: librdkafka settings; passed explicitly rather than trusting defaults that differ by version.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    # Batching is where the throughput is: ~1 MB batches, up to 50 ms of waiting for them.
    # The broker's CPU goes with its request count: at 3,500 tx/s over 12 partitions, 10 ms
    # made ~450 produce requests a second of a few records each; 50 ms cut the broker's CPU per
    # transaction by a fifth and the producer's by a third (2026-11-30, exp-c -> exp-d in
    # loadtest/results/steady-2026-11-30/).
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "message.timeout.ms": 120_000,
    "partitioner": "murmur2_random",
    # Success callbacks for millions of messages cost more CPU than the encode; we count
    # failures and derive successes from what was queued.
    "delivery.report.only.error": True,
}


@dataclass
class ProduceStats:
    queued: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def delivered(self) -> int:
        """Acknowledged by all in-sync replicas; valid once flush() returned 0."""
        return self.queued - self.failed


class TransactionProducer:
    """Encodes and publishes transactions; see the module docstring for the guarantees."""

    def __init__(self, bootstrap_servers: str, topic: str, codec: Codec,
                 config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self.stats = ProduceStats()
        self._codec = codec
        self._fatal: RdKafkaError | None = None
        self._producer = Producer({
            **PRODUCER_DEFAULTS,
            # copy the caller's config so we never mutate it
            **dict(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "error_cb": self._on_error,
        })

    @classmethod
    def from_settings(cls, settings: Settings, config: dict[str, Any] | None = None) -> TransactionProducer:
        topic = topics(settings.topic_prefix, settings.partitions).transactions.name
        codec = codec_for("transaction", topic, settings.schema_registry_url)
        return cls(settings.kafka_bootstrap_servers, topic, codec,
                   {**kafka_security(settings), **dict(config or {})})

    def check_topic(self, timeout_s: float = 10.0) -> None:
        """Fail at once, naming the topic, when it does not exist: librdkafka would otherwise
        hold every message for message.timeout.ms (30 s) and then fail each one with
        UNKNOWN_TOPIC_OR_PART. An unreachable broker is reported the same way, at once."""
        try:
            metadata = self._producer.list_topics(self.topic, timeout=timeout_s)
        except KafkaException as exc:
            raise KafkaError(f"cannot read topic {self.topic!r} from Kafka: {exc}") from exc
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None:
            why = found.error.str() if found is not None and found.error is not None else "missing"
            raise ConfigError(f"topic {self.topic!r} does not exist ({why}): create the topics with "
                              f"`paystream topics create` (same PAYSTREAM_TOPIC_PREFIX and "
                              f"KAFKA_BOOTSTRAP_SERVERS)")

    def _on_error(self, error: RdKafkaError) -> None:
        if error.fatal():
            self._fatal = error
        log.warning("kafka: %s", error.str())

    def _on_delivery(self, error: RdKafkaError | None, _message: Any) -> None:
        if error is not None:
            self.stats.failed += 1
            self.stats.errors[error.name()] += 1

    def send(self, tx: Transaction,
             on_delivery: Callable[[RdKafkaError | None, Any], None] | None = None) -> None:
        """Queue one transaction; blocks (serving callbacks) while the local queue is full.

        `on_delivery(error, message)` is called too, from poll() or flush(), when the broker gave
        up, and when it acknowledged if the producer was built with
        delivery.report.only.error=False (load tests time each produce with it).
        """
        self.send_encoded(*self.encode(tx), on_delivery)

    def encode(self, tx: Transaction) -> tuple[bytes, bytes]:
        """The (key, value) bytes `send` would publish for `tx`."""
        return tx.partition_key.encode(), self._codec.encode(tx.to_record())

    def send_encoded(self, key: bytes, value: bytes,
                     on_delivery: Callable[[RdKafkaError | None, Any], None] | None = None
                     ) -> None:
        """Queue one already-encoded transaction (see `send`)."""
        callback: Callable[[RdKafkaError | None, Any], None] = self._on_delivery
        if on_delivery is not None:
            def both(error: RdKafkaError | None, message: Any) -> None:
                self._on_delivery(error, message)
                on_delivery(error, message)
            callback = both
        while True:
            if self._fatal is not None:
                raise KafkaError(f"producer failed fatally: {self._fatal.str()}")
            try:
                self._producer.produce(self.topic, value, key, on_delivery=callback)
                break
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:
                error = exc.args[0]
                self.stats.failed += 1
                self.stats.errors[error.name()] += 1
                self.stats.queued += 1
                return
        self.stats.queued += 1

    def poll(self, timeout_s: float = 0.0) -> None:
        self._producer.poll(timeout_s)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait for every queued message's outcome; return how many are still unknown."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log.error("%d messages undelivered after %.0f s", remaining, timeout_s)
        return remaining

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.flush()


class LabelPublisher:
    """Publishes fraud labels (schemas/fraud_label.v3.avsc) to fraud-labels, keyed by tx_id,
    with the same producer settings as transactions; `sent` counts what `send` queued, failures
    are the producer's."""

    def __init__(self, producer: TransactionProducer, codec: Codec) -> None:
        self.producer = producer
        self._codec = codec
        self.sent = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> LabelPublisher:
        topic = topics(settings.topic_prefix, settings.partitions).labels.name
        codec = codec_for("fraud_label", topic, settings.schema_registry_url)
        return cls(TransactionProducer(settings.kafka_bootstrap_servers, topic, codec,
                                       kafka_security(settings)), codec)

    def encode(self, record: dict[str, Any]) -> tuple[bytes, bytes]:
        """The (key, value) a label record (streams.labels.label) is published as."""
        return record["tx_id"].encode(), self._codec.encode(record)

    def send(self, record: dict[str, Any]) -> None:
        self.producer.send_encoded(*self.encode(record))
        self.sent += 1

    def chargeback(self, reported_at_ms: int, tx_id: str) -> None:
        """A confirmed fraud, as a card scheme's chargeback reports it."""
        self.send(label(tx_id, True, "CHARGEBACK", reported_at_ms))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.producer.flush()


class Pacer:
    """Spreads sends evenly at `rate` per second, serving producer callbacks while it waits.

    Sends go out in bursts of `burst_s` worth of the rate, then it waits. Waiting whenever 1 ms
    ahead cost the generator 35-49 µs of CPU per message at 2,000/s (median 47 of 4 runs;
    ~8 unpaced), CPU the pipeline it measures loses; 5 ms bursts: 28-45 (median 39),
    alternated runs, 2026-12-01. A 5 ms burst is far inside the producer's own linger (50 ms):
    the broker sees the same requests.
    """

    def __init__(self, rate: float | None, wait: Callable[[float], None],
                 burst_s: float = 0.005) -> None:
        if rate is not None and rate <= 0:
            raise ConfigError(f"rate must be > 0, got {rate}")
        self._rate = rate
        self._wait = wait
        self._burst_s = burst_s
        self._start = time.monotonic()

    def pace(self, sent: int) -> None:
        if self._rate is None:
            return
        ahead_s = self._start + sent / self._rate - time.monotonic()
        if ahead_s > self._burst_s:
            self._wait(ahead_s)


@dataclass
class PublishReport:
    sent: int
    failed: int
    undelivered: int
    elapsed_s: float
    cpu_s: float
    errors: dict[str, int]

    @property
    def rate_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        attempted = self.sent + self.failed + self.undelivered
        return self.cpu_s * 1e6 / attempted if attempted else 0.0


#: An encoded-transactions file: this header, then per record a big-endian u32 key length, the
#: key, a u32 value length, the value (the exact bytes `TransactionProducer.send` publishes).
ENCODED_MAGIC = b"paystream-encoded-transactions/1\n"
_LENGTH = struct.Struct(">I")


def write_encoded(path: Path, records: Iterable[tuple[bytes, bytes]]) -> int:
    """Write encoded (key, value) records to `path`; return how many."""
    count = 0
    with path.open("wb") as out:
        out.write(ENCODED_MAGIC)
        for key, value in records:
            out.write(_LENGTH.pack(len(key)) + key + _LENGTH.pack(len(value)) + value)
            count += 1
    return count


def read_encoded(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) records of a file `write_encoded` made, in order."""
    data = path.read_bytes()
    if not data.startswith(ENCODED_MAGIC):
        raise ConfigError(f"{path}: not an encoded-transactions file (made by "
                          f"`paystream produce --encode-to`)")
    at, end, unpack = len(ENCODED_MAGIC), len(data), _LENGTH.unpack_from
    while at < end:
        (size,) = unpack(data, at)
        key = data[at + 4:at + 4 + size]
        at += 4 + size
        (size,) = unpack(data, at)
        value = data[at + 4:at + 4 + size]
        at += 4 + size
        if at > end:
            raise ConfigError(f"{path}: truncated at byte {end}")
        yield key, value


def process_cpu_s() -> float:
    # RUSAGE_SELF includes librdkafka's threads, where compression and I/O happen.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def publish(producer: TransactionProducer,
            transactions: Iterable[Transaction] | Iterable[tuple[bytes, bytes]],
            rate: float | None = None, on_progress: Callable[[int], None] | None = None,
            flush_timeout_s: float = 120.0) -> PublishReport:
    """Send every transaction, at `rate` per second or as fast as Kafka takes them, then flush.

    Transactions are records to encode, or (key, value) pairs already encoded (`read_encoded`).
    """
    producer.check_topic()
    cpu_start, start = process_cpu_s(), time.monotonic()
    pacer = Pacer(rate, producer.poll)
    count = 0
    for tx in transactions:
        if isinstance(tx, tuple):
            producer.send_encoded(*tx)
        else:
            producer.send(tx)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
            if on_progress is not None:
                on_progress(count)
        pacer.pace(count)
    undelivered = producer.flush(flush_timeout_s)
    if on_progress is not None:
        on_progress(count)
    stats = producer.stats
    return PublishReport(
        sent=stats.queued - stats.failed - undelivered,
        failed=stats.failed,
        undelivered=undelivered,
        elapsed_s=time.monotonic() - start,
        cpu_s=process_cpu_s() - cpu_start,
        errors=dict(stats.errors),
    )


#: How long an acknowledged publish waits for Kafka before it is reported as failed.
ACK_TIMEOUT_S = 30.0


class AckedPublisher:
    """One idempotent producer for records someone waits for (a reviewer's verdict, a
    partner's callback): `publish` returns once Kafka has acknowledged the record, keyed by its
    source_account (the partition that holds the money)."""

    def __init__(self, settings: Settings, role: str, record: str) -> None:
        self.topic = getattr(topics(settings.topic_prefix, settings.partitions), role).name
        self._codec = codec_for(record, self.topic, settings.schema_registry_url)
        # One small message that someone waits for: no linger, and a report of every delivery
        # (the transaction producer's defaults report only failures).
        self._config = {**PRODUCER_DEFAULTS, "linger.ms": 0, "delivery.report.only.error": False,
                        **kafka_client_config(settings)}
        self._producer = Producer(self._config)
        self._lock = threading.Lock()  # poll() from one thread at a time
        self.producers_replaced = 0

    def publish(self, record: dict[str, Any], timeout_s: float = ACK_TIMEOUT_S) -> None:
        """Blocking (call it from a thread in async code)."""
        error = self.publish_all([record], timeout_s)[0]
        if error is not None:
            raise error

    def publish_all(self, records: list[dict[str, Any]], timeout_s: float = ACK_TIMEOUT_S
                    ) -> list[KafkaError | None]:
        """Publish several records and wait for all their acknowledgements at once: one wait,
        not one per record (the payout watch's answers of a round). Blocking. Returns, per
        record, None (acknowledged) or the retriable or not KafkaError it met."""
        pending = len(records)
        outcomes: list[Any] = [None] * len(records)
        reported = [False] * len(records)
        done = threading.Event()

        def delivered_to(index: int) -> Callable[[Any, Any], None]:
            def delivered(error: Any, _message: Any) -> None:
                nonlocal pending
                outcomes[index], reported[index] = error, True
                pending -= 1  # reports are served by poll(), under the lock: one at a time
                if pending == 0:
                    done.set()
            return delivered

        producer = self._producer  # polled until these records' reports, even if replaced
        for index, record in enumerate(records):
            producer.produce(self.topic, self._codec.encode(record), record["source_account"],
                             on_delivery=delivered_to(index))
        if not records:
            done.set()
        deadline = time.monotonic() + timeout_s
        while not done.is_set() and time.monotonic() < deadline:
            with self._lock:
                # Another publisher's poll may have served these reports while this one waited
                # for the lock: polling again would wait up to 100 ms for nothing.
                if not done.is_set():
                    producer.poll(0.1)
        # Read before a replacement, whose purge reports what is left as failed for good: those
        # records were not acknowledged in time, which is worth retrying.
        failures = [self._failure(record, error, was_reported, timeout_s)
                    for record, error, was_reported in zip(records, outcomes, reported, strict=True)]
        if not done.is_set():
            self._replace(producer)
        return failures

    def _failure(self, record: dict[str, Any], error: Any, reported: bool,
                 timeout_s: float) -> KafkaError | None:
        if not reported:
            return KafkaError(f"{self.topic} record for {record['tx_id']} not acknowledged by "
                              f"Kafka within {timeout_s:.0f} s; the next publish starts on a new "
                              f"producer", retriable=True)
        if error is not None:
            return KafkaError(f"{self.topic} record for {record['tx_id']} refused by Kafka: "
                              f"{error}", retriable=bool(error.retriable()))
        return None

    def _replace(self, stale: Producer) -> None:
        """Throw away a producer that let a record go unacknowledged: librdkafka can stay stuck
        after a broker restart (agents/outbox.py). purge() fails what it still holds, so the
        publishers waiting on it get a retriable error at once rather than a late delivery."""
        with self._lock:
            if self._producer is not stale:
                return  # another publish replaced it already
            self._producer = Producer(self._config)
            self.producers_replaced += 1
            stale.purge()
            stale.flush(0)  # serves the purged records' reports to their publishers
        log.warning("%s publisher: producer replaced after an unacknowledged record (%d so far)",
                    self.topic, self.producers_replaced)

    def close(self) -> None:
        self._producer.flush(5)
