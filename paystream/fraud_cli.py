"""`paystream train` and `paystream evaluate`: the fraud model's commands (thin; logic in agents.fraud)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from streams.errors import ConfigError


@click.command()
@click.option("--count", "-n", type=click.IntRange(min=20_000), default=400_000,
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
@click.pass_obj
def train(obj: Any, count: int, seed: int, accounts: int, fraud_share: float, review_fpr: float,
          decline_fpr: float, runs: int, models_dir: Path | None) -> None:
    """Train a fraud model on generated labelled traffic; write it as a new version.

    Replays the traffic through the workers' own feature code, fits a HistGradientBoosting and
    a logistic regression on the older streams, keeps the one with the better PR-AUC on the
    newest stream (the hold-out), sets the REVIEW / DECLINE score thresholds there for the asked
    false-positive rates, and writes models/fraud-vNNNN (model, features, thresholds,
    training-data hash, metrics). Running workers pick the new version up within seconds.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from agents.fraud.train import TrainingOptions
    from agents.fraud.train import train as run_training
    from agents.rules import load_rules
    from streams.generator import GeneratorConfig

    settings = obj.settings
    options = TrainingOptions(GeneratorConfig(seed=seed, accounts=accounts, fraud_share=fraud_share),
                              count=count, runs=runs, review_fpr=review_fpr,
                              decline_fpr=decline_fpr)
    rules = load_rules(Path(settings.rules_path) if settings.rules_path else None)
    folder = models_dir or Path(settings.models_dir)
    console = Console(stderr=True)
    with Progress("replaying features", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("replay", total=count)
        result = run_training(options, rules, folder, lambda n: bar.advance(task, n))
    console.print(_metrics_table(result))
    click.echo(f"wrote {result.folder} ({result.chosen}; review at score >= "
               f"{result.thresholds.review:.4f}, decline >= {result.thresholds.decline:.4f}; "
               f"{result.seconds['total']:.0f} s)")


def _metrics_table(result: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"{result.version}: hold-out, rules + model")
    for column in ("", "value"):
        table.add_column(column)
    for name, pr_auc in result.pr_auc.items():
        marker = " (kept)" if name == result.chosen else ""
        table.add_row(f"PR-AUC {name}{marker}", f"{pr_auc:.4f}")
    held = result.holdout
    for key in ("transactions", "fraud", "flagged", "precision", "recall", "false_positive_rate"):
        table.add_row(key, str(held[key]))
    for scenario, figures in held["per_scenario"].items():
        table.add_row(f"recall {scenario}", f"{figures['recall']} of {figures['transactions']}")
    return table


@click.command()
@click.option("--labels", "labels_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The CSV `paystream produce --labels-out` wrote.")
@click.option("--offline", is_flag=True,
              help="Rebuild the same traffic from the labels' generator config and assess it "
                   "here, with the model and rules the workers use, instead of reading the "
                   "decisions the workers produced.")
@click.option("--compare", is_flag=True,
              help="Both: the stream's figures, the offline ones, and their differences in "
                   "percentage points.")
@click.option("--table", is_flag=True, help="Print a table for people instead of JSON.")
@click.option("--json-out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Also write the JSON report to this file.")
@click.option("--model", "model_name", default=None,
              help="With --offline: the model version to use. Default: PAYSTREAM_MODEL.")
@click.option("--timeout-s", type=click.FloatRange(min=1), default=120.0,
              help="How long to read the decisions topic for.")
@click.pass_obj
def evaluate(obj: Any, labels_path: Path, offline: bool, compare: bool, table: bool,
             json_out: Path | None, model_name: str | None, timeout_s: float) -> None:
    """Detection quality against the generator's labels, as JSON.

    Joins the decisions (by tx_id) with the labels and prints precision, recall, false-positive
    rate, PR-AUC of the score and recall per fraud scenario. A transaction counts as flagged
    when its decision names a risk (rule:, block: or model: reasons), whatever the funds.
    `--offline` prints the same shape from a replay, to compare the two (they should agree).
    """
    labels = _read_labels(labels_path)
    if compare:
        streamed = _streamed(obj.settings, labels, timeout_s)
        replayed = _offline(obj.settings, labels_path, labels, model_name)
        report = {"stream": streamed, "offline": replayed,
                  "difference_pp": _difference_pp(streamed, replayed)}
        missing = streamed["missing_decisions"]
    elif offline:
        report = _offline(obj.settings, labels_path, labels, model_name)
        missing = 0
    else:
        report = _streamed(obj.settings, labels, timeout_s)
        missing = report["missing_decisions"]
    text = json.dumps(report, indent=2)
    if json_out is not None:
        json_out.write_text(text + "\n")
    if table:
        from rich.console import Console

        Console().print(_evaluation_table(report))
    else:
        click.echo(text)
    if missing:
        click.echo(f"paystream: {missing} labelled transactions have no decision yet", err=True)
        sys.exit(1)


def _difference_pp(stream: dict[str, Any], offline: dict[str, Any]) -> dict[str, Any]:
    """stream - offline, in percentage points, for every rate both report."""
    def pp(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(100 * (a - b), 2)

    out: dict[str, Any] = {key: pp(stream[key], offline[key])
                           for key in ("precision", "recall", "false_positive_rate", "pr_auc")}
    out["recall_per_scenario"] = {
        name: pp(figures["recall"], offline["per_scenario"].get(name, {}).get("recall"))
        for name, figures in stream["per_scenario"].items()}
    return out


def _evaluation_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    columns = ({"stream": report["stream"], "offline": report["offline"]}
               if "stream" in report else {report["source"]: report})
    table = Table(title="fraud detection against the labels")
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="right")
    if "difference_pp" in report:
        table.add_column("difference (pp)", justify="right")
    rows = [(key, key) for key in ("transactions", "fraud", "flagged", "precision", "recall",
                                   "false_positive_rate", "pr_auc")]
    scenarios = sorted({s for figures in columns.values() for s in figures["per_scenario"]})
    for key, label in rows:
        cells = [str(figures[key]) for figures in columns.values()]
        if "difference_pp" in report:
            cells.append(str(report["difference_pp"].get(key, "")))
        table.add_row(label, *cells)
    for scenario in scenarios:
        cells = [str(figures["per_scenario"].get(scenario, {}).get("recall")) for figures in columns.values()]
        if "difference_pp" in report:
            cells.append(str(report["difference_pp"]["recall_per_scenario"].get(scenario)))
        table.add_row(f"recall {scenario}", *cells)
    return table


def _read_labels(path: Path) -> dict[str, tuple[bool, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"tx_id", "is_fraud", "scenario"} <= set(reader.fieldnames):
            raise ConfigError(f"{path}: expected a CSV with columns tx_id,is_fraud,scenario "
                              f"(from paystream produce --labels-out)")
        return {row["tx_id"]: (row["is_fraud"] == "1", row["scenario"]) for row in reader}


def _streamed(settings: Any, labels: dict[str, tuple[bool, str]], timeout_s: float) -> dict[str, Any]:
    from collections import Counter

    from agents.fraud.assess import is_flagged
    from agents.fraud.metrics import detection_metrics
    from agents.reconcile import read_topic
    from paystream.bootstrap import reading_consumer
    from streams.codec import codec_for
    from streams.topics import topics as topic_specs

    topic = topic_specs(settings.topic_prefix, settings.partitions).decisions.name
    codec = codec_for("decision", topic, settings.schema_registry_url)
    consumer = reading_consumer(settings, "evaluate")
    try:
        messages = read_topic(consumer, topic, timeout_s)
    finally:
        consumer.close()
    decided: dict[str, tuple[float, bool]] = {}
    versions: Counter[str] = Counter()
    for message in messages:
        decision = codec.decode(message.value())
        if decision["tx_id"] in labels:
            decided[decision["tx_id"]] = (decision["score"], is_flagged(decision["reasons"]))
            versions[decision["model_version"] or "none"] += 1
    joined = [tx_id for tx_id in labels if tx_id in decided]
    report = detection_metrics([labels[t][0] for t in joined], [labels[t][1] for t in joined],
                               [decided[t][0] for t in joined], [decided[t][1] for t in joined])
    return {"source": f"stream ({topic})", **report, "missing_decisions": len(labels) - len(joined),
            "model_versions": dict(versions)}


def _offline(settings: Any, labels_path: Path, labels: dict[str, tuple[bool, str]],
             model_name: str | None) -> dict[str, Any]:
    from agents.fraud.assess import Assessor
    from agents.fraud.model import FixedModels, ModelRegistry
    from agents.fraud.replay import replay
    from agents.rules import load_rules
    from paystream.cli import labels_sidecar
    from streams.generator import GeneratorConfig, TrafficGenerator

    sidecar = labels_sidecar(labels_path)
    try:
        saved = json.loads(sidecar.read_text())
        config = GeneratorConfig(**saved["generator"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{sidecar}: cannot rebuild the traffic ({exc}); it is written by "
                          f"paystream produce --labels-out next to the labels") from exc
    registry = ModelRegistry(Path(settings.models_dir), model_name or settings.model)
    model = registry.active()
    rules = load_rules(Path(settings.rules_path) if settings.rules_path else None)
    replayed = replay(TrafficGenerator(config).generate(saved["count"]),
                      Assessor(rules, FixedModels(model)))
    if set(replayed.tx_ids) != set(labels):
        raise ConfigError(f"{labels_path}: the rebuilt traffic's tx_ids differ from the labels'; "
                          f"was the labels file edited, or the generator changed since?")
    return {"source": f"offline replay ({sidecar.name})", **replayed.metrics(),
            "missing_decisions": 0,
            "model_versions": _versions(model.version if model else "none", replayed.scored)}


def _versions(version: str, scored: list[bool]) -> dict[str, int]:
    """As the stream records it: deposits carry no model version."""
    counts = {version: sum(scored), "none": len(scored) - sum(scored)}
    return {name: n for name, n in counts.items() if n}
