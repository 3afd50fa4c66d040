"""`paystream model list|compare|promote`: the fraud models' versions, shadow against active on
live traffic, and the promotion of a version (thin; logic in agents.fraud.model and .compare)."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import click

from streams.errors import ConfigError


@click.group()
def model() -> None:
    """The fraud models: list the versions, compare shadow and active, promote one."""


def _folder(obj: Any, models_dir: Path | None) -> Path:
    return models_dir or Path(obj.settings.models_dir)


_MODELS_DIR = click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path),
                           default=None, help="Default: PAYSTREAM_MODELS_DIR (models).")


@model.command("list")
@_MODELS_DIR
@click.pass_obj
def model_list(obj: Any, models_dir: Path | None) -> None:
    """Every version, newest last: when and how it was trained, its hold-out figures, and which
    one a worker following `latest` runs."""
    from agents.fraud.model import MANIFEST_FILE, resolve_latest, versions

    folder = _folder(obj, models_dir)
    found = versions(folder)
    active = resolve_latest(folder)
    for version in found:
        manifest = json.loads((folder / version / MANIFEST_FILE).read_text())
        held = manifest.get("metrics", {}).get("holdout", {})
        source = manifest.get("training", {}).get("source", "generator")
        marker = "  <- active (latest)" if version == active else ""
        click.echo(f"{version}  {manifest.get('created_at', '?')}  {manifest.get('candidate', '?'):<24} "
                   f"{source:<10} pr_auc {held.get('pr_auc')}  roc_auc {held.get('roc_auc')}{marker}")
    if not found:
        click.echo(f"no model in {folder}: `paystream train` makes one")


@model.command("check")
@_MODELS_DIR
@click.pass_obj
def model_check(obj: Any, models_dir: Path | None) -> None:
    """Exit 0 if the version a worker would run (PAYSTREAM_MODEL: the promoted one, else the
    newest) loads with this build; else say why and exit 1 (none yet, corrupt, trained on other
    features: `paystream train` makes a usable one)."""
    from agents.fraud.model import LATEST, ModelError, load_model, resolve_latest

    folder = _folder(obj, models_dir)
    wanted = obj.settings.model
    name = resolve_latest(folder) if wanted == LATEST else wanted
    if name is None:
        click.echo(f"no model in {folder}", err=True)
        sys.exit(1)
    try:
        model = load_model(folder / name)
    except ModelError as exc:
        click.echo(f"{name} does not load: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{model.version} loads ({type(model.estimator).__name__})")


@model.command("promote")
@click.argument("version")
@click.option("--by", default=None, help="Who promotes (recorded). Default: the OS user.")
@_MODELS_DIR
@click.pass_obj
def model_promote(obj: Any, version: str, by: str | None, models_dir: Path | None) -> None:
    """Make VERSION the active model of every worker following `latest` (PAYSTREAM_MODEL's
    default): they load it at their next check (PAYSTREAM_MODEL_CHECK_S, 5 s), without a
    restart. Refused if the version does not load (missing, corrupt, other features). Who and
    when are recorded in <models dir>/promotions.jsonl."""
    from agents.fraud.model import promote

    record = promote(_folder(obj, models_dir), version, by or getpass.getuser())
    click.echo(f"{record['version']} promoted by {record['promoted_by']} at "
               f"{record['promoted_at']} (was {record['previous']})")


@model.command("compare")
@click.option("--since", default=None, help="Event time from (ISO-8601). Default: 7 days ago.")
@click.option("--until", default=None, help="Event time to (ISO-8601). Default: now.")
@_MODELS_DIR
@click.pass_obj
def model_compare(obj: Any, since: str | None, until: str | None, models_dir: Path | None) -> None:
    """Active against shadow on the transactions both scored (the reporting store), with the
    fraud labels received so far, as JSON: score quantiles, flag rates at each model's REVIEW
    threshold, agreement, and precision, recall, average precision and ROC AUC on the labels
    (a transaction without a fraud label counts as legitimate)."""
    import time

    from agents.fraud.compare import Scored, compare
    from agents.fraud.model import MANIFEST_FILE, versions
    from sinks.db import connected
    from streams.errors import ValidationError
    from streams.labels import parse_time_ms
    from streams.ledgerchain import to_datetime

    settings = obj.settings
    now_ms = time.time_ns() // 1_000_000
    try:
        start = parse_time_ms(since) if since else now_ms - 7 * 86_400_000
        end = parse_time_ms(until) if until else now_ms
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from None
    if end <= start:
        raise click.BadParameter("--until must be after --since")
    folder = _folder(obj, models_dir)
    thresholds = {v: json.loads((folder / v / MANIFEST_FILE).read_text())["thresholds"]["review"]
                  for v in versions(folder)}

    async def read() -> list[Any]:
        async with connected(settings.database_url, settings.db_schema) as connection:
            return await connection.fetch(
                "SELECT r.score, r.shadow_score, r.model_version, r.shadow_model_version, "
                "coalesce(l.fraud, false) AS fraud FROM report_transactions r "
                "LEFT JOIN (SELECT tx_id, bool_or(is_fraud) AS fraud FROM labels GROUP BY tx_id) l "
                "USING (tx_id) WHERE r.shadow_score IS NOT NULL AND r.event_time >= $1 "
                "AND r.event_time < $2", to_datetime(start), to_datetime(end))

    rows = asyncio.run(read())
    if not rows:
        raise ConfigError("no transaction scored by a shadow model in that period: run workers "
                          "with PAYSTREAM_SHADOW_MODEL set, and their reporting sink")
    report = compare([Scored(r["score"], r["shadow_score"], r["model_version"] or "rules",
                             r["shadow_model_version"], r["fraud"]) for r in rows], thresholds)
    click.echo(json.dumps(report, indent=2))
