"""Transactions as JSON lines, for producers that are not Python programs.

One JSON object per line with the Avro field names. `event_time` is epoch milliseconds or an
ISO-8601 string with a time zone; `amount` an integer in minor units (a float is refused, never
rounded).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any

from streams.errors import ValidationError
from streams.records import Channel, Payout, Transaction, TransactionType

_REQUIRED = ("tx_id", "type", "source_account", "destination_account", "amount", "currency",
             "event_time", "country")
_OPTIONAL_STRINGS = ("merchant_id", "merchant_category", "device_id", "ip", "auth_method")
_KNOWN = frozenset(_REQUIRED + _OPTIONAL_STRINGS + ("channel", "metadata", "payout"))
_PAYOUT_STRINGS = ("send_partner", "receive_partner", "beneficiary", "payout_currency", "fx_rate",
                   "quote_id")


def parse_line(line: str) -> Transaction:
    """Parse one JSON line into a Transaction, or raise ValidationError naming the field."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValidationError("line", line[:80], f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise ValidationError("line", line[:80], "must be a JSON object")
    unknown = sorted(set(obj) - _KNOWN)
    if unknown:
        raise ValidationError(unknown[0], obj[unknown[0]], "unknown field")
    for name in _REQUIRED:
        if obj.get(name) is None:
            raise ValidationError(name, None, "required")
    return Transaction(
        tx_id=_string(obj, "tx_id"),
        type=_enum(TransactionType, obj, "type"),
        source_account=_string(obj, "source_account"),
        destination_account=_string(obj, "destination_account"),
        amount=_amount(obj["amount"]),
        currency=_string(obj, "currency"),
        event_time=_event_time(obj["event_time"]),
        channel=_enum(Channel, obj, "channel") if obj.get("channel") is not None else Channel.OTHER,
        country=_string(obj, "country"),
        metadata=_metadata(obj.get("metadata")),
        payout=_payout(obj.get("payout")),
        **{name: _optional_string(obj, name) for name in _OPTIONAL_STRINGS},
    )


def _payout(value: Any) -> Payout | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("payout", value, "must be an object")
    unknown = sorted(set(value) - set(_PAYOUT_STRINGS) - {"payout_amount"})
    if unknown:
        raise ValidationError(f"payout.{unknown[0]}", value[unknown[0]], "unknown field")
    for name in (*_PAYOUT_STRINGS, "payout_amount"):
        if value.get(name) is None:
            raise ValidationError(f"payout.{name}", None, "required")
    strings = {}
    for name in _PAYOUT_STRINGS:
        if not isinstance(value[name], str):
            raise ValidationError(f"payout.{name}", value[name], "must be a string")
        strings[name] = value[name]
    amount = value["payout_amount"]
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError("payout.payout_amount", amount, "must be an integer number of minor units")
    return Payout(payout_amount=amount, **strings)


def _string(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise ValidationError(name, value, "must be a string")
    return value


def _optional_string(obj: dict[str, Any], name: str) -> str | None:
    return None if obj.get(name) is None else _string(obj, name)


def _enum(kind: type[Enum], obj: dict[str, Any], name: str) -> Any:
    value = obj[name]
    try:
        return kind(value)
    except ValueError:
        raise ValidationError(name, value, f"must be one of {[m.value for m in kind]}") from None


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("amount", value, "must be an integer number of minor units")
    return value


def _event_time(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("event_time", value, "not an ISO-8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValidationError("event_time", value, "needs a time zone (e.g. Z or +00:00)")
        return int(parsed.timestamp() * 1000)
    raise ValidationError("event_time", value, "must be epoch milliseconds or ISO-8601")


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError("metadata", value, "must be an object of string values")
    return value


def to_line(tx: Transaction) -> str:
    """The JSON line for `tx` (the inverse of parse_line)."""
    record = tx.to_record()
    if record["payout"] is None:
        del record["payout"]  # only payouts carry it
    return json.dumps(record, separators=(",", ":"))
