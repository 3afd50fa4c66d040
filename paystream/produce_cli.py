"""`paystream produce`: publish generated traffic, JSON lines or a pre-encoded file."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

import click

from streams.errors import ValidationError
from streams.records import Transaction
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.producer import LabelPublisher, PublishReport

log = logging.getLogger("paystream")

#: Generated traffic ends this long before "now": the generator's span is an estimate.
GENERATED_END_MARGIN_MS = 3_600_000
DAY_MS = 86_400_000


@click.command()
@click.option("--count", "-n", type=click.IntRange(min=0), default=10_000,
              help="Transactions to generate (ignored with --input).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Target transactions per second. Default: as fast as Kafka accepts.")
@click.option("--seed", type=int, default=1, help="Generator seed: same seed, same traffic.")
@click.option("--accounts", type=click.IntRange(min=2), default=10_000,
              help="Customer accounts in the generated population.")
@click.option("--fraud-share", type=click.FloatRange(0, 0.5, max_open=True), default=0.01,
              help="Approximate fraction of generated transactions that are fraud.")
@click.option("--labels-out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write tx_id,is_fraud,scenario,reported_at CSV for generated "
              "traffic (and its generator config next to it, for `paystream evaluate "
              "--offline`).")
@click.option("--label-delay-days", type=click.FloatRange(0, 365), default=1.0, show_default=True,
              help="Generated traffic: how long after a fraud its label (a chargeback) is "
              "reported: the reported_at of --labels-out and of --publish-labels.")
@click.option("--publish-labels", is_flag=True,
              help="Generated traffic: publish each fraud's label to fraud-labels as a "
              "CHARGEBACK once the traffic's clock passes its reported_at, so the workers' "
              "label-risk features learn from it as the traffic goes on (the labels and "
              "reporting sinks must run).")
@click.option("--start", "start_iso", default=None,
              help="Simulated clock start (ISO-8601). Default: so the traffic ends now.")
@click.option("--input", "input_path", type=click.File("r"), default=None,
              help="Publish JSON lines from this file ('-' for stdin) instead of generating.")
@click.option("--encode-to", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write the encoded transactions to this file instead of Kafka "
              "(replay it with --replay: a load test then measures the pipeline, not the "
              "generator).")
@click.option("--replay", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Publish the encoded transactions of a --encode-to file, as "
              "they are.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@click.pass_obj
def produce(obj: Any, count: int, rate: float | None, seed: int, accounts: int,
            fraud_share: float, labels_out: Path | None, label_delay_days: float,
            publish_labels: bool, start_iso: str | None,
            input_path: IO[str] | None, encode_to: Path | None, replay: Path | None,
            as_json: bool) -> None:
    """Publish transactions to the transactions topic: generated traffic or JSON lines.

    \b
    Examples:
      paystream produce --count 1000000 --seed 1
      paystream produce --count 50000 --rate 2000 --fraud-share 0.02 --labels-out labels.csv
      paystream produce --count 100000 --rate 500 --labels-out labels.csv --publish-labels
      paystream produce --input transactions.jsonl      # one JSON object per line
      cat txs.jsonl | paystream produce --input -
      paystream produce --count 300000 --encode-to load.bin && paystream produce --replay load.bin

    A JSON line that does not parse or validate is reported with its line number on stderr and
    the rest still goes. Exit status is 1 if any line was invalid or any message was not
    delivered.
    """
    from streams.producer import TransactionProducer, publish, write_encoded

    settings = obj.settings
    _check_sources(input_path is not None, replay is not None, encode_to is not None,
                   labels_out is not None or publish_labels, publish_labels)
    invalid: list[int] = []
    source: Any  # transactions (generated or JSON lines)
    with ExitStack() as stack:
        if replay is not None:
            report, topic = _replay(settings, replay, rate, stack.enter_context(_progress(None)))
            chargebacks = None
        else:
            if input_path is not None:
                source, total, chargebacks = _json_lines(input_path, settings, invalid), None, None
            else:
                config = generator_config(count, seed, accounts, fraud_share, start_iso)
                source, chargebacks = _generated_source(stack, settings, config, count,
                                                        labels_out, label_delay_days,
                                                        publish_labels)
                total = count
            producer = TransactionProducer.from_settings(settings)
            topic = producer.topic
            if encode_to is not None:
                written = write_encoded(encode_to, map(producer.encode, source))
                click.echo(json.dumps({"encoded": written, "file": str(encode_to)}) if as_json
                           else f"wrote {written:,} encoded transactions to {encode_to}")
                sys.exit(1 if invalid else 0)
            report = publish(producer, source, rate=rate, on_progress=stack.enter_context(
                _progress(total)))
    summary = {
        "topic": topic,
        "sent": report.sent,
        **({"labels_published": chargebacks.sent} if chargebacks is not None else {}),
        "failed": report.failed + report.undelivered,
        "invalid_lines": len(invalid),
        "elapsed_s": round(report.elapsed_s, 3),
        "rate_per_s": round(report.rate_per_s, 1),
        "cpu_us_per_message": round(report.cpu_us_per_message, 2),
        "errors": report.errors,
    }
    click.echo(json.dumps(summary) if as_json
               else "\n".join(f"{key:>20}: {value}" for key, value in summary.items()))
    if summary["failed"] or invalid:
        sys.exit(1)


def _replay(settings: Settings, path: Path, rate: float | None,
            on_progress: Any) -> tuple[PublishReport, str]:
    """Publish an encoded-transactions file as Kafka's Java producer would (streams/replay.py);
    the report and the topic."""
    import asyncio

    from streams.producer import read_encoded
    from streams.replay import publish_encoded, transactions_topic

    report = asyncio.run(publish_encoded(settings, read_encoded(path), rate, on_progress))
    return report, transactions_topic(settings)


def _check_sources(from_input: bool, from_replay: bool, encoding: bool, labelling: bool,
                   publishing_labels: bool) -> None:
    """Refuse option combinations that mean nothing, saying why."""
    if (from_input or from_replay) and labelling:
        raise click.UsageError("--labels-out and --publish-labels only apply to generated "
                               "traffic, not --input or --replay")
    if publishing_labels and encoding:
        raise click.UsageError("--publish-labels publishes as the traffic goes: not with "
                               "--encode-to")
    if from_replay and (from_input or encoding):
        raise click.UsageError("--replay publishes a file as it is: not with --input or "
                               "--encode-to")


def _generated_source(stack: ExitStack, settings: Settings, config: Any, count: int,
                      labels_out: Path | None, label_delay_days: float,
                      publish_labels: bool) -> tuple[Iterator[Transaction], LabelPublisher | None]:
    """Generated transactions, with their labels written to `labels_out` (and the generator's
    config beside it) and, with `publish_labels`, the publisher of their chargebacks."""
    from streams.producer import LabelPublisher

    labels = None
    if labels_out is not None:
        labels = stack.enter_context(labels_out.open("w", newline=""))
        labels_sidecar(labels_out).write_text(json.dumps(
            {"count": count, "generator": dataclasses.asdict(config),
             "label_delay_days": label_delay_days, "labels_published": publish_labels},
            indent=2) + "\n")
    chargebacks = (stack.enter_context(LabelPublisher.from_settings(settings))
                   if publish_labels else None)
    return (_generated(config, count, labels, int(label_delay_days * DAY_MS), chargebacks),
            chargebacks)


def generator_config(count: int, seed: int, accounts: int, fraud_share: float,
                     start_iso: str | None) -> Any:
    """The generator's config; without a start, the traffic is placed to end about now."""
    from streams.generator import GeneratorConfig, TrafficGenerator

    if start_iso is None:
        probe = TrafficGenerator(GeneratorConfig(seed=seed, accounts=accounts,
                                                 fraud_share=fraud_share))
        # The span is estimated (random arrivals, thin nights: off by an hour either way at
        # 100k), so the traffic is generated once to see where it really ends (~1 s per 100k)
        # and moved back by any overshoot; it ends an hour early so no event lands in the future.
        end_ms = int(time.time() * 1000) - GENERATED_END_MARGIN_MS
        start_ms = end_ms - probe.span_ms(count, end_ms=end_ms)
        for _ in range(5):  # a move shifts the daily rhythm under the arrivals: look again
            config = GeneratorConfig(seed=seed, accounts=accounts, fraud_share=fraud_share,
                                     start_ms=start_ms)
            last_ms = max((tx.event_time for tx, _ in TrafficGenerator(config).generate(count)),
                          default=start_ms)
            if last_ms <= end_ms:
                break
            start_ms -= last_ms - end_ms
    else:
        start_ms = _parse_iso_ms(start_iso)
    return GeneratorConfig(seed=seed, accounts=accounts, fraud_share=fraud_share, start_ms=start_ms)


def labels_sidecar(labels: Path) -> Path:
    """Where the generator config of a labels file is kept, so its traffic can be rebuilt."""
    return labels.with_name(labels.name + ".generator.json")


def _generated(config: Any, count: int, labels: IO[str] | None, delay_ms: int,
               chargebacks: LabelPublisher | None) -> Iterator[Transaction]:
    """The generated transactions; their labels written (reported delay_ms after each) and,
    with `chargebacks`, each fraud's published once the traffic's clock reaches its report."""
    from streams.generator import TrafficGenerator

    generator = TrafficGenerator(config)
    writer = csv.writer(labels) if labels is not None else None
    if writer is not None:
        writer.writerow(["tx_id", "is_fraud", "scenario", "reported_at"])
    due: deque[tuple[int, str]] = deque()  # (reported at, tx_id): in order, the delay being fixed
    for tx, truth in generator.generate(count):
        if writer is not None:
            writer.writerow([truth.tx_id, int(truth.is_fraud), truth.scenario,
                             tx.event_time + delay_ms])
        if chargebacks is not None:
            while due and due[0][0] <= tx.event_time:
                chargebacks.chargeback(*due.popleft())
            if truth.is_fraud:
                due.append((tx.event_time + delay_ms, tx.tx_id))
        yield tx


def _parse_iso_ms(value: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not ISO-8601: {value!r}", param_hint="--start") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _json_lines(stream: IO[str], settings: Settings, invalid: list[int]) -> Iterator[Transaction]:
    from streams.jsonlines import parse_line
    from streams.validation import validate

    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            tx = parse_line(line)
            validate(tx, int(time.time() * 1000), settings.max_clock_skew_ms)
        except ValidationError as exc:
            invalid.append(number)
            click.echo(f"line {number}: {exc}", err=True)
            continue
        yield tx


class _progress:
    """A rich progress bar on a terminal; a log line every 5 s otherwise."""

    def __init__(self, total: int | None) -> None:
        self._total = total
        self._bar: Any = None
        self._task: Any = None
        self._last_log = time.monotonic()

    def __enter__(self) -> Self:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True))
            self._bar.start()
            self._task = self._bar.add_task("producing", total=self._total)
        return self

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
        elif time.monotonic() - self._last_log >= 5:
            self._last_log = time.monotonic()
            of = f"/{self._total:,}" if self._total else ""
            log.info("produced %s%s", f"{done:,}", of)

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
