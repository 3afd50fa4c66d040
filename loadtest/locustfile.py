"""Locust scenarios against the whole pipeline, through Kafka as an upstream producer would.

Two kinds of user, in the same Locust process:
- `TransactionProducerUser` publishes generated transactions with confluent-kafka (paystream's
  producer library) and reports each produce as a request of type `produce`, timed from send
  to the broker's acknowledgement; a refused or undelivered message is a failure;
- `DecisionListener` (one per Locust process) consumes `decisions` and reports, per
  transaction this process sent, produce-to-decision latency as a request of type `e2e`; a
  transaction with no decision within --e2e-timeout-s is an `e2e` failure.

Scenarios (--scenario): steady (constant load), ramp (load rising to the peak), spike (steady
with a short burst of 4x), hot_accounts (a Zipf-skewed few accounts pay most), fraud_burst (a
fifth of the traffic is labelled fraud). Load is --rate-per-user transactions/s per user; the
shape sets the number of users and ends the run after --run-s (default 60 s): every run is
bounded. Targets only the Kafka in KAFKA_BOOTSTRAP_SERVERS (127.0.0.1 by default).

    locust -f loadtest/locustfile.py --headless --scenario steady --run-s 60 \\
        --csv loadtest/results/steady --html loadtest/results/steady.html
    locust --scenario spike    # from the repo root (locust.conf): web UI on http://127.0.0.1:8089
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import gevent
import msgspec
import numpy as np
from confluent_kafka import Consumer
from locust import LoadTestShape, User, constant_throughput, events, task

from streams.codec import codec_for
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.producer import TransactionProducer
from streams.records import Transaction, TransactionType
from streams.settings import kafka_client_config, load_settings
from streams.topics import topics

SCENARIOS = ("steady", "ramp", "spike", "hot_accounts", "fraud_burst")
RUN_ID = uuid.uuid4().hex[:8]
#: tx_id -> monotonic send time, for the e2e listener of this process.
SENT: dict[str, float] = {}
#: Transactions per task run: one produce() call each, reported one by one.
BURST = 10


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--scenario", choices=SCENARIOS, default="steady", include_in_web_ui=True,
                        help="Which load to apply.")
    parser.add_argument("--run-s", type=float, default=60.0, include_in_web_ui=True,
                        help="How long the run lasts; the shape stops it then.")
    parser.add_argument("--peak-users", type=int, default=8, include_in_web_ui=True,
                        help="Producer users at the peak (spike: 4x this for a moment).")
    parser.add_argument("--rate-per-user", type=float, default=500.0, include_in_web_ui=True,
                        help="Transactions per second each producer user aims at.")
    parser.add_argument("--e2e-timeout-s", type=float, default=30.0, include_in_web_ui=True,
                        help="A transaction without a decision after this long is a failure.")


def _report(environment: Any, kind: str, name: str, started: float, error: str | None) -> None:
    environment.events.request.fire(
        request_type=kind, name=name, response_time=(time.monotonic() - started) * 1000.0,
        response_length=0, exception=RuntimeError(error) if error else None, context={})


class TransactionProducerUser(User):
    """An upstream system publishing transactions."""

    weight = 1

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.scenario = options.scenario
        self._pacing = constant_throughput(options.rate_per_user / BURST)
        settings = load_settings()
        # Every acknowledgement, not only failures: each one is a timed request here.
        self.producer = TransactionProducer.from_settings(
            settings, {"delivery.report.only.error": False})
        fraud_share = 0.2 if self.scenario == "fraud_burst" else 0.02
        seed = int(uuid.uuid4().int % 1_000_000)
        self.traffic = TrafficGenerator(GeneratorConfig(seed=seed, fraud_share=fraud_share)).generate(10**9)
        self.rng = np.random.default_rng(seed)
        self.sequence = 0

    def wait_time(self) -> float:
        return self._pacing(self)

    def _next(self) -> Transaction:
        tx, _ = next(self.traffic)
        self.sequence += 1
        changes: dict[str, Any] = {"tx_id": f"lt-{RUN_ID}-{id(self) % 100_000}-{self.sequence}",
                                   "event_time": time.time_ns() // 1_000_000}
        if self.scenario == "hot_accounts" and tx.type is not TransactionType.DEPOSIT:
            hot = min(int(self.rng.zipf(1.3)), 10_000)  # rank 1 pays most
            account = f"acc-{hot:08d}"
            if account != tx.destination_account:
                changes["source_account"] = account
        return msgspec.structs.replace(tx, **changes)

    @task
    def publish(self) -> None:
        for _ in range(BURST):
            tx = self._next()
            started = time.monotonic()
            SENT[tx.tx_id] = started

            def delivered(error: Any, _message: Any, started: float = started) -> None:
                _report(self.environment, "produce", "transactions", started,
                        error.str() if error is not None else None)

            self.producer.send(tx, on_delivery=delivered)
        self.producer.poll(0)

    def on_stop(self) -> None:
        self.producer.flush(30)


class DecisionListener(User):
    """Reads decisions; times each transaction this process sent from produce to decision."""

    fixed_count = 1

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        settings = load_settings()
        self.timeout_s = environment.parsed_options.e2e_timeout_s
        topic = topics(settings.topic_prefix, settings.partitions).decisions.name
        self.codec = codec_for("decision", topic, settings.schema_registry_url)
        self.consumer = Consumer({**kafka_client_config(settings),  # its security settings too
                                  "group.id": f"locust-{RUN_ID}-{uuid.uuid4().hex[:6]}",
                                  "auto.offset.reset": "latest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])

    @task
    def listen(self) -> None:
        swept = time.monotonic()
        while True:
            # Non-blocking poll + gevent sleep: a blocking consume would stall every producer.
            for message in self.consumer.consume(num_messages=2000, timeout=0):
                if message.error():
                    continue
                value = message.value()
                if value is None:
                    continue
                tx_id = self.codec.decode(value)["tx_id"]
                started = SENT.pop(tx_id, None)
                if started is not None:
                    _report(self.environment, "e2e", "produce_to_decision", started, None)
            now = time.monotonic()
            if now - swept >= 1.0:
                swept = now
                late = [t for t, sent in SENT.items() if now - sent > self.timeout_s]
                for tx_id in late:
                    _report(self.environment, "e2e", "produce_to_decision", SENT.pop(tx_id),
                            f"no decision within {self.timeout_s:.0f} s")
            gevent.sleep(0.01)

    def on_stop(self) -> None:
        self.consumer.close()


class ScenarioShape(LoadTestShape):
    """Users over time for the chosen scenario. After --run-s the producers stop and the listener
    alone drains what is in flight (each transaction gets its decision or its timeout failure);
    then None: the run ends, at most --run-s + --e2e-timeout-s + 2 s after it began."""

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None, "a shape ticks only inside a run"
        options: Any = self.runner.environment.parsed_options
        t, run_s, peak = self.get_run_time(), options.run_s, options.peak_users
        listener = 1
        if t >= run_s:
            draining = SENT and t < run_s + options.e2e_timeout_s + 2
            return (listener, 100) if draining else None
        if options.scenario == "ramp":
            return listener + max(1, int(peak * t / (0.8 * run_s))), 50
        if options.scenario == "spike" and 0.4 * run_s <= t < 0.55 * run_s:
            return listener + 4 * peak, 100
        return listener + peak, 50
