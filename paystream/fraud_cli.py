"""`paystream evaluate`, `label` and `warm`: measuring the fraud model, feeding it labels, and
starting its state from history (thin; logic in agents.fraud)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from paystream.train_cli import read_transactions
from streams.errors import ConfigError


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
@click.option("--label-feedback/--no-label-feedback", default=None,
              help="With --offline or --compare: whether the replay's label-risk features see "
                   "each fraud's label from its reported_at. Default: as the traffic was "
                   "produced (yes when `produce --publish-labels` sent them to the workers).")
@click.pass_obj
def evaluate(obj: Any, labels_path: Path, offline: bool, compare: bool, table: bool,
             json_out: Path | None, model_name: str | None, timeout_s: float,
             label_feedback: bool | None) -> None:
    """Detection quality against the generator's labels, as JSON.

    Joins the decisions (by tx_id) with the labels and prints precision, recall, false-positive
    rate, PR-AUC of the score and recall per fraud scenario. A labels file listing every
    transaction (produce --labels-out) must find a decision for each; one listing frauds only
    (chargebacks; columns tx_id,is_fraud[,scenario]) scores every decided payment, those
    without a label as legitimate, and ignores frauds of periods the workers did not see. A transaction counts as flagged
    when its decision names a risk (rule:, block: or model: reasons), whatever the funds.
    `--offline` prints the same shape from a replay, to compare the two (they should agree).
    """
    labels = _read_labels(labels_path)
    if compare:
        streamed = _streamed(obj.settings, labels, timeout_s)
        replayed = _offline(obj.settings, labels_path, labels, model_name, label_feedback)
        report = {"stream": streamed, "offline": replayed,
                  "difference_pp": _difference_pp(streamed, replayed)}
        missing = streamed["missing_decisions"]
    elif offline:
        report = _offline(obj.settings, labels_path, labels, model_name, label_feedback)
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
                           for key in ("precision", "recall", "false_positive_rate", "pr_auc",
                                       "roc_auc")}
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
                                   "false_positive_rate", "pr_auc", "roc_auc")]
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
    """tx_id -> (is_fraud, scenario); without a scenario column, "fraud" or "legit"."""
    from streams.errors import ValidationError
    from streams.labels import parse_is_fraud

    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"tx_id", "is_fraud"} <= set(reader.fieldnames):
            raise ConfigError(f"{path}: expected a CSV with columns tx_id,is_fraud[,scenario] "
                              f"(paystream produce --labels-out writes one)")
        try:
            return {row["tx_id"]: (fraud := parse_is_fraud(row["is_fraud"]),
                                   row.get("scenario") or ("fraud" if fraud else "legit"))
                    for row in reader}
        except ValidationError as exc:
            raise ConfigError(f"{path} line {reader.line_num}: {exc}") from None


def _streamed(settings: Any, labels: dict[str, tuple[bool, str]], timeout_s: float) -> dict[str, Any]:
    from collections import Counter

    from agents.fraud.assess import is_flagged
    from agents.fraud.metrics import detection_metrics
    from agents.reconcile import read_topic
    from paystream.wiring import reading_consumer
    from streams.codec import codec_for
    from streams.topics import topics as topic_specs

    topic = topic_specs(settings.topic_prefix, settings.partitions).decisions.name
    codec = codec_for("decision", topic, settings.schema_registry_url)
    consumer = reading_consumer(settings, "evaluate")
    try:
        messages = read_topic(consumer, topic, timeout_s)
    finally:
        consumer.close()
    # A file of frauds only (chargebacks, an outside simulator's labels) cannot name the
    # legitimate payments: then every decision without a label is legitimate, and frauds
    # the workers never saw (another period's) are outside the evaluation, not missing.
    frauds_only = all(fraud for fraud, _ in labels.values())
    decided: dict[str, tuple[float, bool]] = {}
    versions: Counter[str] = Counter()
    for message in messages:
        decision = codec.decode(message.value())
        if decision["tx_id"] in labels or (frauds_only and decision["type"] != "DEPOSIT"):
            decided[decision["tx_id"]] = (decision["score"], is_flagged(decision["reasons"]))
            versions[decision["model_version"] or "none"] += 1
    legit = (False, "legit")
    joined = list(decided) if frauds_only else [tx_id for tx_id in labels if tx_id in decided]
    truth = [labels.get(t, legit) for t in joined]
    report = detection_metrics([fraud for fraud, _ in truth], [name for _, name in truth],
                               [decided[t][0] for t in joined], [decided[t][1] for t in joined])
    unseen = sum(1 for tx_id in labels if tx_id not in decided)
    return {"source": f"stream ({topic})", **report,
            "missing_decisions": 0 if frauds_only else unseen,
            **({"labels_without_decision": unseen} if frauds_only else {}),
            "model_versions": dict(versions)}


def _offline(settings: Any, labels_path: Path, labels: dict[str, tuple[bool, str]],
             model_name: str | None, label_feedback: bool | None) -> dict[str, Any]:
    from agents.fraud.assess import Assessor
    from agents.fraud.labelrisk import DAY_MS, LabelRiskMemory, reported_after
    from agents.fraud.model import FixedModels, ModelRegistry
    from agents.fraud.replay import replay
    from agents.rules import load_rules
    from paystream.produce_cli import labels_sidecar
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
    items = list(TrafficGenerator(config).generate(saved["count"]))
    # Labels reach the features as they reached the workers: from produce --publish-labels,
    # each fraud's label_delay_days after it (files of older versions: none were published).
    if label_feedback is None:
        label_feedback = bool(saved.get("labels_published", False))
    delay_ms = int(saved.get("label_delay_days", 1.0) * DAY_MS)
    known = (reported_after(((tx, label.is_fraud) for tx, label in items), delay_ms)
             if label_feedback else [])
    replayed = replay(items, Assessor(rules, FixedModels(model)),
                      label_risk=LabelRiskMemory(known))
    if set(replayed.tx_ids) != set(labels):
        raise ConfigError(f"{labels_path}: the rebuilt traffic's tx_ids differ from the labels'; "
                          f"was the labels file edited, or the generator changed since?")
    return {"source": f"offline replay ({sidecar.name})", **replayed.metrics(),
            "label_feedback": label_feedback,
            "missing_decisions": 0,
            "model_versions": _versions(model.version if model else "none", replayed.scored)}


def _versions(version: str, scored: list[bool]) -> dict[str, int]:
    """As the stream records it: deposits carry no model version."""
    counts = {version: sum(scored), "none": len(scored) - sum(scored)}
    return {name: n for name, n in counts.items() if n}


@click.command()
@click.option("--input", "input_file", type=click.File("r"), required=True,
              help="CSV with a header: tx_id,is_fraud[,reported_at][,source][,note]"
                   "[,source_account,destination_account,event_time][,device_id] ('-' for "
                   "stdin; other "
                   "columns are ignored, so `produce --labels-out` files work).")
@click.option("--source", type=click.Choice(["CHARGEBACK", "ANALYST", "CUSTOMER_REPORT", "REVIEW"]),
              default="CHARGEBACK", help="Who said so, for lines without a source column.")
@click.option("--transactions", "transactions_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines of the labelled transactions (the `produce --input` format, e.g. "
                   "the history `train --transactions` read): each label takes its "
                   "transaction's payer, destination, time and device from it, so labels of payments "
                   "paystream never decided feed the features too.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def label(obj: Any, input_file: Any, source: str, transactions_path: Path | None,
          as_json: bool) -> None:
    """Publish fraud labels (chargebacks, analysts' and customers' reports) to fraud-labels.

    \b
    is_fraud: 1/0, true/false. reported_at: when the label became known, ISO-8601 (UTC unless
    it says otherwise) or epoch milliseconds; default now. A label may be counted only for
    transactions after its reported_at, so give the real one when you have it.
    Examples:
      paystream label --input chargebacks.csv
      paystream label --input verdicts.csv --source ANALYST
      paystream label --input labels.csv --transactions history.jsonl

    A label feeds the features (its payer's and destination's label risk) once paystream knows
    its transaction: from the reporting store when the workers decided it, else from the
    label itself (columns source_account,destination_account,event_time, or --transactions).

    Bad lines are reported by line number on stderr and the rest is still sent. A label is
    idempotent per (tx_id, source): sending the same file twice changes nothing. Exit status 1
    if any line was bad or any label was not delivered.
    """
    import time

    from streams.labels import read_csv
    from streams.producer import LabelPublisher, publish

    settings = obj.settings
    labels, bad, _ = read_csv(input_file, source, time.time_ns() // 1_000_000)
    sent = failed = 0
    found: int | None = None
    if labels is not None and transactions_path is not None:
        with_transactions, found = _with_transactions(list(labels), transactions_path)
        labels = iter(with_transactions)
    if labels is not None:
        publisher = LabelPublisher.from_settings(settings)
        report = publish(publisher.producer, map(publisher.encode, labels))
        sent, failed = report.sent, report.failed + report.undelivered
    for line in bad:
        click.echo(f"line {line.line}: {line.problem}", err=True)
    summary = {"sent": sent, "failed": failed, "bad_lines": len(bad),
               **({"found_in_transactions": found} if found is not None else {})}
    click.echo(json.dumps(summary) if as_json else
               f"labels: {sent:,} sent, {failed:,} not delivered, {len(bad):,} bad lines"
               + (f", {found:,} with their transaction from {transactions_path}"
                  if found is not None else ""))
    if bad or failed:
        sys.exit(1)


def _with_transactions(labels: list[dict], path: Path) -> tuple[list[dict], int]:
    """The labels, each with its transaction's payer, destination, time and device where `path` holds
    it (a line that does not parse is skipped: `produce --input` reports those)."""
    from streams.errors import ValidationError
    from streams.jsonlines import parse_line

    wanted = {item["tx_id"] for item in labels if item.get("source_account") is None}
    known: dict[str, tuple[str, str, int, str | None]] = {}
    with path.open() as lines:
        for line in lines:
            try:
                if json.loads(line).get("tx_id") not in wanted:
                    continue
                tx = parse_line(line)
            except (ValueError, AttributeError, ValidationError):
                continue
            known[tx.tx_id] = (tx.source_account, tx.destination_account, tx.event_time,
                               tx.device_id)
    for item in labels:
        if item["tx_id"] in known and item.get("source_account") is None:
            (item["source_account"], item["destination_account"], item["event_time"],
             item["device_id"]) = known[item["tx_id"]]
    return labels, sum(1 for item in labels if item["tx_id"] in known)



@click.command()
@click.option("--transactions", "transactions_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines of the history (the `produce --input` format, as `train "
                   "--transactions` reads it).")
@click.option("--until", "until_iso", default=None,
              help="Replay the history up to here (ISO-8601, excluded): where the workers' "
                   "traffic starts. Default: all of it.")
@click.pass_obj
def warm(obj: Any, transactions_path: Path, until_iso: str | None) -> None:
    """Start the workers' fraud state from your history, as if paystream had run through it.

    \b
    Examples:
      paystream warm --transactions history.jsonl
      paystream warm --transactions history.jsonl --until 2026-05-24

    Replays the history in event-time order through the workers' feature code and writes each
    payer's profile into its account state (version-checked; balances and holds untouched) and
    each destination's fan-in set and payments per day. Run it before the workers take the
    traffic that follows the history, so a model trained on it (`train --transactions`) sees
    the features it learned from rather than every payer new. Labels come with `label
    --transactions`.
    """
    import asyncio

    from agents.fraud.assess import Assessor
    from agents.fraud.fanin import FanInMemory
    from agents.fraud.labelrisk import DAY_MS, PAYMENT_DAYS_KEPT, PaymentDaysMemory
    from agents.fraud.model import FixedModels
    from agents.fraud.replay import replay
    from agents.rules import load_rules
    from agents.warm import write_fan_in, write_payment_days, write_profiles
    from paystream.wiring import state_redis
    from streams import state_layout
    from streams.errors import ValidationError
    from streams.labels import parse_time_ms
    from streams.records import FraudLabel

    settings = obj.settings
    try:
        until_ms = None if until_iso is None else parse_time_ms(until_iso, "until")
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--until") from None
    history = sorted((tx for tx in read_transactions(transactions_path)
                      if until_ms is None or tx.event_time < until_ms),
                     key=lambda tx: (tx.event_time, tx.tx_id))
    if not history:
        raise ConfigError(f"{transactions_path}: no transactions before {until_iso}")
    rules = load_rules(Path(settings.rules_path) if settings.rules_path else None)
    profiles: dict[str, bytes] = {}
    fan_in, days = FanInMemory(), PaymentDaysMemory()
    replay(((tx, FraudLabel(tx.tx_id, False, "history")) for tx in history),
           Assessor(rules, FixedModels(None)), profiles=profiles, fan_in=fan_in, payment_days=days)
    recent = days.recent(history[-1].event_time // DAY_MS - PAYMENT_DAYS_KEPT + 1)

    async def write() -> tuple[int, int, int]:
        redis = state_redis(settings, socket_timeout=60)
        try:
            await state_layout.check(redis, settings.topic_prefix)
            return (await write_profiles(redis, settings.topic_prefix, profiles,
                                         settings.partitions),
                    await write_fan_in(redis, settings.topic_prefix, fan_in.sets()),
                    await write_payment_days(redis, settings.topic_prefix, recent))
        finally:
            await redis.aclose()

    accounts, destinations, paid = asyncio.run(write())
    click.echo(json.dumps({"transactions": len(history), "profiles": accounts,
                           "fan_in_sets": destinations, "payment_days": paid}))
