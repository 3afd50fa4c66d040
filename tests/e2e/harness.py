"""Running the real pipeline in tests: worker processes, progress, reconcile."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from paystream.launch import command, environment, free_port, stop
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
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(command(*self._command, *self._extra_args),
                                        env=environment(self._settings, **self._env),
                                        stdout=log, stderr=subprocess.STDOUT)

    @property
    def log_path(self) -> Path:
        """The log of its latest start."""
        return self._log_dir / f"{self.name}-{self.starts}.log"

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, f"{self.name} not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        return stop(self.process, timeout_s, self.name)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def explain(self) -> str:
        """What this process said that was not routine and its last lines; if it still runs,
        where its threads are (py-spy dump) and, a worker, what each of its asyncio tasks
        awaits (SIGUSR1: Faust's Worker logs every task's stack) and where its delivery stands
        (SIGUSR2: streams/faustbatch.py describe). For a run that did not drain."""
        path = self.log_path
        lines = path.read_text(errors="replace").splitlines()
        notable = [line for line in lines if any(level in line for level in _NOTABLE)]
        parts = [f"== {self.name} (start {self.starts}, "
                 f"{'running' if self.alive() else f'exited {self.returncode()}'})",
                 "-- warnings and errors (last 30):", *notable[-30:],
                 "-- last 15 lines:", *lines[-15:]]
        if self.alive() and self.process is not None:
            parts += ["-- py-spy dump:", _stacks(self.process.pid)]
            if self._command[0] == "worker":
                self.process.send_signal(signal.SIGUSR2)
                time.sleep(1)
                described = path.read_text(errors="replace").splitlines()
                parts += ["-- its delivery (SIGUSR2):", *described[len(lines):][:120]]
                self.process.send_signal(signal.SIGUSR1)
                time.sleep(3)
                dumped = path.read_text(errors="replace").splitlines()[len(described):]
                parts += ["-- its tasks, our frames only (SIGUSR1):", *_our_frames(dumped)]
        return "\n".join(parts)

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()


_NOTABLE = ("WARNING", "ERROR", "CRITICAL", "Traceback")


def _our_frames(dumped: list[str]) -> list[str]:
    """Of Faust's dump of threads and tasks (locals and all), each task's name and the frames
    of paystream's own code: where each agent waits."""
    ours = [line for line in dumped if line.strip().startswith("TASK ")
            or (line.strip().startswith('File "') and "site-packages" not in line
                and "/lib/python3" not in line and "<frozen" not in line)]
    return ours[:200]


def _stacks(pid: int) -> str:
    spy = Path(sys.executable).with_name("py-spy")
    try:
        dumped = subprocess.run([str(spy), "dump", "--pid", str(pid)], capture_output=True,
                                text=True, timeout=30, check=False)
        return dumped.stdout or dumped.stderr
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(no dump: {exc!r})"


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
        if time.monotonic() >= deadline:
            raise AssertionError(f"{topic} stayed below {at_least} for {timeout_s}s\n"
                                 + "\n".join(worker.explain() for worker in workers))
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


def reconcile(settings: Settings, wait_s: float, *extra: str,
              workers: tuple[Worker, ...] = ()) -> tuple[int, dict[str, Any]]:
    """`paystream reconcile` after waiting up to `wait_s` for the run to drain.

    A run that did not drain, or a reconcile still running 120 s after its wait, fails here with
    what `workers` said and where they (and reconcile) are stuck. Keep `wait_s` + 120 s well
    under the test's timeout: pytest-timeout would end the test with none of that.
    """
    process = subprocess.Popen(command("reconcile", "--wait-s", str(wait_s), *extra),
                               env=environment(settings), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=wait_s + 120)
    except subprocess.TimeoutExpired:
        stuck = _stacks(process.pid)
        process.kill()
        process.communicate()
        raise AssertionError(f"reconcile still ran {wait_s + 120:.0f}s on; it was at:\n{stuck}\n"
                             + "\n".join(worker.explain() for worker in workers)) from None
    try:
        summary = json.loads(stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"reconcile printed no JSON: {stdout}\n{stderr}") from None
    if summary.get("pending") != {"lag": 0, "outbox_entries": 0}:
        raise AssertionError(f"the run did not drain in {wait_s}s: {summary.get('pending')}\n"
                             + "\n".join(worker.explain() for worker in workers))
    return process.returncode, summary


def publish_generated(settings: Settings, count: int, seed: int, accounts: int,
                      start: int = 0, stop: int | None = None,
                      rate: float | None = None) -> None:
    """Publish `count` generated transactions (2% fraud) to the test's transactions topic: of
    those, the ones from `start` to `stop` (the same seed makes the same sequence, so calls with
    adjoining ranges publish it in parts), at `rate` per second or at once."""
    generator = TrafficGenerator(GeneratorConfig(seed=seed, accounts=accounts, fraud_share=0.02))
    part = islice((tx for tx, _ in generator.generate(count)), start, stop)
    report = publish(TransactionProducer.from_settings(settings), part, rate=rate)
    assert report.sent == (count if stop is None else stop) - start, report


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
