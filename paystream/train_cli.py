"""`paystream train`: a fraud model from generated traffic or from your own history (thin; the
logic is in agents.fraud)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from streams.errors import ConfigError


@click.command()
@click.option("--count", "-n", type=click.IntRange(min=20_000), default=800_000,
              help="Labelled transactions to generate and replay.")
@click.option("--seed", type=click.IntRange(min=0), default=1,
              help="Generator seed of the training traffic (evaluate on another one).")
@click.option("--accounts", type=click.IntRange(min=100), default=10_000,
              help="Customer accounts in the generated population.")
@click.option("--fraud-share", type=click.FloatRange(0.001, 0.5, max_open=True), default=0.02,
              help="Approximate fraction of generated transactions that are fraud.")
@click.option("--review-fpr", type=click.FloatRange(0, 0.5, min_open=True), default=0.009,
              help="Share of legitimate payments that rules and model together may flag.")
@click.option("--decline-fpr", type=click.FloatRange(0, 0.5, min_open=True), default=0.001,
              help="Share of legitimate payments the model may decline outright.")
@click.option("--runs", type=click.IntRange(2, 20), default=4,
              help="Independent streams (seeds seed, seed+1, ...) the count is split into; the "
                   "newest is the hold-out that compares models and sets thresholds.")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the new version. Default: PAYSTREAM_MODELS_DIR (models).")
@click.option("--transactions", "transactions_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Train on your own history instead: JSON lines, the `produce --input` format.")
@click.option("--labels", "labels_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --transactions: CSV tx_id,is_fraud[,reported_at][,scenario] (other "
                   "columns ignored). Unlabelled transactions count as legitimate.")
@click.option("--from-reporting", is_flag=True,
              help="Train on the reporting store's decided transactions (--since, --until) and "
                   "the labels received for them, instead of files.")
@click.option("--since", default=None, help="With --from-reporting: the first event time to "
              "read (ISO-8601).")
@click.option("--until", default=None, help="With --from-reporting: read event times before "
              "this (ISO-8601). Default: now.")
@click.option("--train-from", default=None, help="With --transactions: start of the training "
              "period (ISO-8601). Default: the first transaction.")
@click.option("--train-to", default=None, help="With --transactions: end of the training period "
              "(ISO-8601). Default: 70% of the way to the last transaction, before the gap.")
@click.option("--delay-days", type=click.FloatRange(min=0, max=365), default=None,
              help="How late labels arrive. With --transactions (default 7): the test period "
                   "starts this long after --train-to, and a label without reported_at is known "
                   "this long after its transaction. Generated traffic (default 1: its days are "
                   "compressed): each fraud's label reaches the features this long after it.")
@click.option("--top-k", type=click.IntRange(min=1), default=100,
              help="With --transactions: accounts investigators review per day (precision@k).")
@click.option("--no-label-feedback", is_flag=True,
              help="Features do not see the labels as they come back (to measure what they add; "
                   "serving always does).")
@click.pass_obj
def train(obj: Any, count: int, seed: int, accounts: int, fraud_share: float, review_fpr: float,
          decline_fpr: float, runs: int, models_dir: Path | None, transactions_path: Path | None,
          labels_path: Path | None, from_reporting: bool, since: str | None, until: str | None,
          train_from: str | None, train_to: str | None, delay_days: float | None, top_k: int,
          no_label_feedback: bool) -> None:
    """Train a fraud model on generated labelled traffic, or with --transactions and --labels
    on your own history; write it as a new version.

    \b
    Examples:
      paystream train                                   # generated traffic (the demo's)
      paystream train --transactions txs.jsonl --labels chargebacks.csv --delay-days 7
      paystream train --transactions txs.jsonl --labels labels.csv \\
          --train-from 2026-04-01 --train-to 2026-06-01
      paystream train --from-reporting --since 2026-09-01   # what paystream decided since

    On your history (files, or the reporting store with the labels it received; --train-from
    and --train-to apply to both): the transactions are replayed in event-time order through the workers'
    feature code; the model learns from the training period with the labels known by then, and
    is tested on what comes after the delay gap (ROC AUC, average precision, recall at the
    review false-positive rate, precision among the top-k accounts per day, recall per
    scenario).

    Generated traffic: each fraud's label comes back --delay-days after it (a chargeback) and
    feeds the label-risk features from then on, as the labels sink does in serving.
    Replays the traffic through the workers' own feature code, fits a HistGradientBoosting and
    a logistic regression on the older streams, keeps the one with the better PR-AUC on the
    newest stream (the hold-out), sets the REVIEW / DECLINE score thresholds there for the asked
    false-positive rates, and writes models/fraud-vNNNN (model, features, thresholds,
    training-data hash, metrics). Running workers pick the new version up within seconds.
    """
    from agents.fraud.history import HistoryOptions
    from agents.fraud.train import TrainingOptions
    from streams.generator import GeneratorConfig

    settings = obj.settings
    _check_history_options(transactions_path, labels_path, from_reporting, since, until)
    if from_reporting or transactions_path is not None:
        history_options = HistoryOptions(
            _when(train_from, "--train-from"), _when(train_to, "--train-to"),
            7.0 if delay_days is None else delay_days, review_fpr, decline_fpr, top_k, seed,
            not no_label_feedback)
        if from_reporting:
            history = _reporting_history(settings, _when(since, "--since"),
                                         _when(until, "--until"))
        else:
            assert transactions_path is not None and labels_path is not None  # checked above
            history = _file_history(transactions_path, labels_path)
        _train_on_history(settings, *history, history_options, models_dir)
        return
    options = TrainingOptions(GeneratorConfig(seed=seed, accounts=accounts, fraud_share=fraud_share),
                              count=count, runs=runs, review_fpr=review_fpr,
                              decline_fpr=decline_fpr,
                              label_delay_days=1.0 if delay_days is None else delay_days,
                              label_feedback=not no_label_feedback)
    _train_on_generated(settings, options, models_dir or Path(settings.models_dir))


def _check_history_options(transactions_path: Path | None, labels_path: Path | None,
                           from_reporting: bool, since: str | None, until: str | None) -> None:
    if (transactions_path is None) != (labels_path is None):
        raise click.UsageError("--transactions and --labels go together")
    if from_reporting and transactions_path is not None:
        raise click.UsageError("--from-reporting or --transactions, not both")
    if (since is not None or until is not None) and not from_reporting:
        raise click.UsageError("--since and --until go with --from-reporting")
    if from_reporting and since is None:
        raise click.UsageError("--from-reporting needs --since (the first event time to read)")


def _train_on_generated(settings: Any, options: Any, folder: Path) -> None:
    """Train on generated traffic with a progress bar, then show the metrics and the version."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from agents.fraud.train import train as run_training
    from agents.rules import load_rules

    count = options.count
    rules = load_rules(Path(settings.rules_path) if settings.rules_path else None)
    console = Console(stderr=True)
    with Progress("replaying features", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("replay", total=count)
        result = run_training(options, rules, folder, lambda n: bar.advance(task, n))
    console.print(_metrics_table(result))
    click.echo(f"wrote {result.folder} ({result.chosen}; review at score >= "
               f"{result.thresholds.review:.4f}, decline >= {result.thresholds.decline:.4f}; "
               f"{result.seconds['total']:.0f} s)")


def _when(value: str | None, option: str) -> int | None:
    """An ISO-8601 (or epoch ms) option as epoch ms, or a usage error naming the option."""
    from streams.errors import ValidationError
    from streams.labels import parse_time_ms

    try:
        return None if value is None else parse_time_ms(value)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _file_history(transactions_path: Path, labels_path: Path) -> tuple[list, dict, dict]:
    """(transactions, tx_id -> KnownLabel, where they came from) of --transactions/--labels."""
    from agents.fraud.model import file_sha256

    return (read_transactions(transactions_path), read_history_labels(labels_path), {
        "source": "history", "transactions_file": str(transactions_path),
        "transactions_sha256": file_sha256(transactions_path), "labels_file": str(labels_path),
        "labels_sha256": file_sha256(labels_path)})


def _reporting_history(settings: Any, since_ms: int | None, until_ms: int | None
                       ) -> tuple[list, dict, dict]:
    """The same, from the reporting store: its transactions of [since, until) and their labels."""
    import asyncio
    import time

    from agents.fraud.history import KnownLabel
    from sinks.db import connected
    from sinks.history import read_history

    assert since_ms is not None
    end_ms = until_ms if until_ms is not None else time.time_ns() // 1_000_000
    if end_ms <= since_ms:
        raise click.BadParameter("--until must be after --since")

    async def read() -> tuple[list, list]:
        async with connected(settings.database_url, settings.db_schema) as connection:
            return await read_history(connection, since_ms, end_ms)

    transactions, stored = asyncio.run(read())
    if not transactions:
        raise ConfigError(f"the reporting store holds no decided transaction between "
                          f"{iso(since_ms)} and {iso(end_ms)}: run the reporting sink beside "
                          f"the workers, or pick another --since/--until")
    labels: dict[str, KnownLabel] = {}
    for item in stored:
        _keep(labels, item.tx_id, KnownLabel(item.is_fraud, "fraud" if item.is_fraud else "legit",
                                             item.reported_ms))
    return transactions, labels, {"source": "reporting", "since": iso(since_ms),
                                  "until": iso(end_ms), "labels_received": len(stored)}


def iso(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _train_on_history(settings: Any, transactions: list, labels: dict, source: dict,
                      options: Any, models_dir: Path | None) -> None:
    from rich.console import Console

    from agents.fraud.history import train_on_history
    from agents.rules import load_rules

    console = Console(stderr=True)
    console.print(f"training on {len(transactions):,} transactions and {len(labels):,} labels...")
    rules = load_rules(Path(settings.rules_path) if settings.rules_path else None)
    result = train_on_history(transactions, labels, options, rules,
                              models_dir or Path(settings.models_dir), source)
    console.print(_metrics_table(result))
    click.echo(json.dumps({"version": result.version, "chosen": result.chosen,
                           "test": result.holdout}, indent=2))
    click.echo(f"wrote {result.folder} ({result.chosen}; review at score >= "
               f"{result.thresholds.review:.4f}, decline >= {result.thresholds.decline:.4f}; "
               f"{result.seconds['total']:.0f} s)")


def read_transactions(path: Path) -> list[Any]:
    """Every transaction of a JSON-lines file, or a ConfigError naming the first bad lines."""
    from streams.errors import ValidationError
    from streams.jsonlines import parse_line

    out, bad = [], []
    with path.open() as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                out.append(parse_line(line))
            except ValidationError as exc:
                bad.append(f"line {number}: {exc}")
    if bad:
        raise ConfigError(f"{path}: {len(bad)} bad lines, fix them first: " + "; ".join(bad[:5]))
    return out


def read_history_labels(path: Path) -> dict[str, Any]:
    """tx_id -> KnownLabel; several labels of one transaction: fraud if any says so, known from
    the earliest report of the verdict kept."""
    from agents.fraud.history import KnownLabel
    from streams.errors import ValidationError
    from streams.labels import parse_is_fraud, parse_time_ms

    out: dict[str, KnownLabel] = {}
    bad = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"tx_id", "is_fraud"} <= set(reader.fieldnames):
            raise ConfigError(f"{path}: expected a CSV with at least the columns tx_id,is_fraud")
        for row in reader:
            try:
                is_fraud = parse_is_fraud(row["is_fraud"] or "")
                reported = (row.get("reported_at") or "").strip()
                label = KnownLabel(is_fraud, (row.get("scenario") or "").strip()
                                   or ("fraud" if is_fraud else "legit"),
                                   parse_time_ms(reported) if reported else None)
            except ValidationError as exc:
                bad.append(f"line {reader.line_num}: {exc}")
                continue
            _keep(out, row["tx_id"], label)
    if bad:
        raise ConfigError(f"{path}: {len(bad)} bad lines, fix them first: " + "; ".join(bad[:5]))
    return out


def _keep(labels: dict[str, Any], tx_id: str, label: Any) -> None:
    """Keep `label` for tx_id unless the one held outranks it."""
    before = labels.get(tx_id)
    if before is None or _outranks(label, before):
        labels[tx_id] = label


def _outranks(new: Any, old: Any) -> bool:
    """Fraud wins over legitimate; within one verdict, the earliest known report."""
    if new.is_fraud != old.is_fraud:
        return bool(new.is_fraud)
    never = float("inf")
    return (new.reported_at_ms or never) < (old.reported_at_ms or never)


def _metrics_table(result: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"{result.version}: hold-out, rules + model")
    for column in ("", "value"):
        table.add_column(column)
    for name, pr_auc in result.pr_auc.items():
        marker = " (kept)" if name == result.chosen else ""
        table.add_row(f"PR-AUC {name}{marker}", f"{pr_auc:.4f}")
    held = result.holdout
    for key in ("transactions", "fraud", "flagged", "precision", "recall", "false_positive_rate",
                "pr_auc", "roc_auc"):
        table.add_row(key, str(held[key]))
    if "recall_at_fpr" in held:
        table.add_row(f"recall at FPR {held['recall_at_fpr']['fpr']} (score alone)",
                      str(held["recall_at_fpr"]["recall"]))
        top = held["precision_top_k_accounts_per_day"]
        table.add_row(f"precision, top {top['k']} accounts per day ({top['days']} days)",
                      str(top["precision"]))
    for scenario, figures in held["per_scenario"].items():
        table.add_row(f"recall {scenario}", f"{figures['recall']} of {figures['transactions']}")
    return table
