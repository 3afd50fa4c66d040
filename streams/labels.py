"""Fraud labels: what became known about a transaction after its decision. Pure.

A label says a transaction was fraud or legitimate, who said so (a chargeback, an analyst, a
customer's report, a reviewer's verdict) and when it became known (`reported_at`): a feature
may count it only for transactions after that time, or a model would learn from the future.
One label counts per (tx_id, source); a later report from the same source replaces an earlier
one. Records are dicts in the shape of schemas/fraud_label.v3.avsc.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.errors import ValidationError

SOURCES = ("CHARGEBACK", "ANALYST", "CUSTOMER_REPORT", "REVIEW")
_TRUE = frozenset({"1", "true", "yes", "fraud"})
_FALSE = frozenset({"0", "false", "no", "legit"})
#: Epoch milliseconds after 2001-09-09 have 13 digits; a 10-digit number is seconds, refused
#: rather than read as a date in 1970.
_MIN_EPOCH_MS = 1_000_000_000_000


@dataclass(frozen=True)
class BadLine:
    line: int  # 1-based line number in the file, the header being line 1
    problem: str


#: What a label may say of its transaction (schema v2), so that the label of a transaction
#: paystream never decided can still feed the features: all three or none.
TRANSACTION_FIELDS = ("source_account", "destination_account", "event_time")


def label(tx_id: str, is_fraud: bool, source: str, reported_at_ms: int,
          note: str | None = None, transaction: tuple[str, str, int] | None = None,
          device_id: str | None = None) -> dict:
    """`transaction`: the labelled transaction's (payer, destination, event time ms);
    `device_id` its device (schema v3), when the label must say it."""
    if source not in SOURCES:
        raise ValidationError("source", source, f"expected one of {', '.join(SOURCES)}")
    if not tx_id:
        raise ValidationError("tx_id", tx_id, "required")
    payer, destination, event_ms = transaction or (None, None, None)
    return {"tx_id": tx_id, "is_fraud": is_fraud, "source": source,
            "reported_at": reported_at_ms, "note": note or None, "source_account": payer,
            "destination_account": destination, "event_time": event_ms,
            "device_id": device_id or None}


def _transaction(row: dict) -> tuple[str, str, int] | None:
    given = [(row.get(name) or "").strip() for name in TRANSACTION_FIELDS]
    if not any(given):
        return None
    if not all(given):
        missing = [n for n, v in zip(TRANSACTION_FIELDS, given, strict=True) if not v]
        raise ValidationError(missing[0], "", f"give all of {', '.join(TRANSACTION_FIELDS)} or none")
    return given[0], given[1], parse_time_ms(given[2], "event_time")


def parse_is_fraud(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError("is_fraud", value, "expected 1/0 or true/false")


def parse_time_ms(value: str, field: str = "reported_at") -> int:
    """ISO-8601 (a time without a zone is UTC) or epoch milliseconds."""
    text = value.strip()
    if text.isdigit():
        if int(text) < _MIN_EPOCH_MS:
            raise ValidationError(field, value, "epoch milliseconds expected (13 digits)")
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, value, "expected ISO-8601 or epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def read_csv(lines: Iterable[str], default_source: str, now_ms: int
             ) -> tuple[Iterator[dict] | None, list[BadLine], list[str]]:
    """Labels from CSV text with a header naming at least tx_id and is_fraud (reported_at,
    source, note and the transaction's source_account, destination_account, event_time and
    device_id are read when present; other columns are ignored).

    Returns (labels, bad lines, the header) where labels is a generator: iterate it fully
    before reading the bad lines, which it fills as it meets them. A header without the
    required columns gives (None, [BadLine(1, ...)], header)."""
    reader = csv.DictReader(lines)
    header = list(reader.fieldnames or [])
    missing = [c for c in ("tx_id", "is_fraud") if c not in header]
    if missing:
        return None, [BadLine(1, f"the header lacks {', '.join(missing)} (got {header})")], header
    bad: list[BadLine] = []

    def rows() -> Iterator[dict]:
        for row in reader:
            try:
                reported = row.get("reported_at") or ""
                yield label((row["tx_id"] or "").strip(), parse_is_fraud(row["is_fraud"] or ""),
                            (row.get("source") or default_source).strip().upper(),
                            parse_time_ms(reported) if reported.strip() else now_ms,
                            (row.get("note") or "").strip() or None, _transaction(row),
                            (row.get("device_id") or "").strip() or None)
            except ValidationError as exc:
                bad.append(BadLine(reader.line_num, str(exc)))

    return rows(), bad, header
