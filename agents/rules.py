"""Fraud and risk rules from a TOML file: thresholds and allow/block lists, no code change needed.

Order, as Stripe Radar does it: allow lists, then block lists, then threshold rules (the model
comes after: agents.fraud.assess). A file with an unknown key, a wrong type or inconsistent
thresholds is refused at start with the key named.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from streams.errors import ConfigError

APPROVE, REVIEW, DECLINE = "APPROVE", "REVIEW", "DECLINE"


@dataclass(frozen=True)
class Limits:
    #: Amounts in minor units; REVIEW at or above review_amount, DECLINE at or above decline_amount.
    review_amount: int = 500_000
    decline_amount: int = 5_000_000
    #: Decayed transaction counts of the payer above which a transaction goes to REVIEW.
    max_tx_per_minute: float = 10.0
    max_tx_per_hour: float = 60.0
    #: A REVIEW beyond this many open holds on the account is declined instead.
    max_holds_per_account: int = 20
    #: A hold no reviewer decided within this time is released.
    hold_max_age_s: int = 86_400
    #: A PAYOUT whose receive partner has not answered within this time expires, its hold
    #: released (docs/send-money.md).
    payout_deadline_s: int = 3_600


@dataclass(frozen=True)
class Lists:
    allow_accounts: frozenset[str] = frozenset()
    block_accounts: frozenset[str] = frozenset()
    block_countries: frozenset[str] = frozenset()
    block_merchants: frozenset[str] = frozenset()
    block_devices: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rules:
    limits: Limits = field(default_factory=Limits)
    lists: Lists = field(default_factory=Lists)
    source: str = "defaults"


def _section(data: dict[str, Any], name: str, kind: type, path: str) -> Any:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(kind)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {name}.{key} (known: {', '.join(known)})")
        default = getattr(kind(), key)
        if isinstance(default, frozenset):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {name}.{key} must be a list of strings, got {value!r}")
            value = frozenset(value)
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{path}: {name}.{key} must be a positive number, got {value!r}")
            value = float(value)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{path}: {name}.{key} must be a positive integer, got {value!r}")
        values[key] = value
    return kind(**values)


def parse_rules(text: str, path: str = "<rules>") -> Rules:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"limits", "lists"})
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}] (known: [limits], [lists])")
    limits = _section(data, "limits", Limits, path)
    if limits.review_amount >= limits.decline_amount:
        raise ConfigError(f"{path}: limits.review_amount ({limits.review_amount}) must be below "
                          f"limits.decline_amount ({limits.decline_amount})")
    return Rules(limits, _section(data, "lists", Lists, path), source=path)


def load_rules(path: Path | None) -> Rules:
    """Rules from `path`, or the shipped defaults (agents/rules.toml) when None."""
    if path is None:
        return parse_rules(resources.files("agents").joinpath("rules.toml").read_text(),
                           "agents/rules.toml")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"rules file {path}: {exc.strerror}") from None
    return parse_rules(text, str(path))


def screen(rules: Rules, *, source: str, destination: str, amount: int, country: str,
           merchant_id: str | None, device_id: str | None, count_1m: float,
           count_1h: float) -> tuple[str, list[str]]:
    """Outcome and reasons from lists and thresholds, before funds are checked.

    count_1m and count_1h are the payer's decayed transaction counts, this one included
    (agents.fraud.features).
    """
    lists, limits = rules.lists, rules.limits
    if source in lists.allow_accounts:
        return APPROVE, ["allow:account"]
    if source in lists.block_accounts or destination in lists.block_accounts:
        return DECLINE, ["block:account"]
    if country in lists.block_countries:
        return DECLINE, ["block:country"]
    if merchant_id is not None and merchant_id in lists.block_merchants:
        return DECLINE, ["block:merchant"]
    if device_id is not None and device_id in lists.block_devices:
        return DECLINE, ["block:device"]
    if amount >= limits.decline_amount:
        return DECLINE, ["rule:amount_decline"]
    reasons = []
    if amount >= limits.review_amount:
        reasons.append("rule:amount_review")
    if count_1m > limits.max_tx_per_minute:
        reasons.append("rule:velocity_1m")
    if count_1h > limits.max_tx_per_hour:
        reasons.append("rule:velocity_1h")
    return (REVIEW, reasons) if reasons else (APPROVE, [])
