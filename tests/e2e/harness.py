"""Running the real pipeline in tests: worker processes, progress, reconcile."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from paystream.launch import command, environment, run, stop
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.producer import TransactionProducer, publish
from streams.settings import Settings


class Worker:
    """One `paystream worker` (or other long-running command) process, logging to its own file."""

    def __init__(self, settings: Settings, log_dir: Path, name: str,
                 extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 command: tuple[str, ...] = ("worker", "--stats-every-s", "5")) -> None:
        self._command = command
        self._settings = settings
        self._extra_args = extra_args
        self._env = env or {}
        self._log_dir = log_dir
        self.name = name
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        log = (self._log_dir / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(command(*self._command, *self._extra_args),
                                        env=environment(self._settings, **self._env),
                                        stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, f"{self.name} not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        return stop(self.process, timeout_s, self.name)

    def log_tail(self, lines: int = 40) -> str:
        path = self._log_dir / f"{self.name}-{self.starts}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def messages_in(settings: Settings, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": "e2e-progress"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in partitions)
    finally:
        consumer.close()


def wait_for(settings: Settings, topic: str, at_least: int, timeout_s: float,
             workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout_s
    while messages_in(settings, topic) < at_least:
        assert time.monotonic() < deadline, f"{topic} stayed below {at_least} for {timeout_s}s"
        for worker in workers:
            assert worker.alive(), f"worker {worker.name} died on its own:\n{worker.log_tail()}"
        time.sleep(0.5)


def kill_at(settings: Settings, topic: str, total: int, shares: tuple[float, ...],
            victim: Worker, workers: list[Worker]) -> None:
    """SIGKILL `victim` each time `topic` holds another share of `total` messages, and start it
    again at once."""
    for share in shares:
        wait_for(settings, topic, int(total * share), 300, workers)
        victim.kill()
        victim.start()


def reconcile(settings: Settings, wait_s: float, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run(settings, "reconcile", "--wait-s", str(wait_s), *extra, timeout=wait_s + 300)
    try:
        summary = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"reconcile printed no JSON: {result.stdout}\n{result.stderr}") from None
    return result.returncode, summary


def publish_generated(settings: Settings, count: int, seed: int, accounts: int) -> None:
    """Publish `count` generated transactions (2% fraud) to the test's transactions topic."""
    generator = TrafficGenerator(GeneratorConfig(seed=seed, accounts=accounts, fraud_share=0.02))
    report = publish(TransactionProducer.from_settings(settings),
                     (tx for tx, _ in generator.generate(count)))
    assert report.sent == count, report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_partner(settings: Settings, redis_url: str, notify_redis_url: str, directory: Path,
                 secret: str) -> tuple[Settings, int, dict[str, str]]:
    """Settings with one webhook partner (`merchants`, declines and reviews) on a free local
    port: (settings, the receiver's port, the environment carrying the partner's secret)."""
    port = free_port()
    partners = directory / "partners.toml"
    partners.write_text(f'[partners.merchants]\nurl = "http://127.0.0.1:{port}/hooks"\n'
                        f'secret_env = "PARTNER_WEBHOOK_SECRET"\n'
                        f'kinds = ["DECLINED", "UNDER_REVIEW"]\n')
    updated = settings.model_copy(update={"redis_url": redis_url, "notify_redis_url": notify_redis_url,
                                          "partners_path": str(partners)})
    return updated, port, {"PARTNER_WEBHOOK_SECRET": secret}
