"""The API's pure parts: cursors, ranges, key format; and the ledger chain check it relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.exceptions import RequestValidationError

from api import cursor
from api.keys import KEY_PATTERN, new_key
from api.models import Bucket, SearchQuery, TimeRange
from api.routes.common import check_range
from streams.ledgerchain import GENESIS, Tip, chain_hash, check_row

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def test_a_cursor_round_trips_and_a_forged_one_is_a_422_on_cursor() -> None:
    token = cursor.encode(T0, "tx-1")
    assert cursor.decode(token, (datetime, str)) == (T0, "tx-1")
    assert cursor.decode(None, (int,)) is None
    for forged in ("zzz", cursor.encode("not a date", "x"), cursor.encode(1), "!!!!"):
        with pytest.raises(RequestValidationError) as refused:
            cursor.decode(forged, (datetime, str))
        assert refused.value.errors()[0]["loc"] == ("query", "cursor")


def _range(days: float) -> TimeRange:
    return TimeRange.model_validate({"from": T0, "to": T0 + timedelta(days=days)})


def test_ranges_are_bounded_and_ordered() -> None:
    check_range(_range(31), 31)
    check_range(_range(2), 31, Bucket.minute)
    for query, bucket, message in ((_range(32), None, "31 days"), (_range(3), Bucket.minute, "2 days"),
                                   (_range(0), None, "after")):
        with pytest.raises(RequestValidationError) as refused:
            check_range(query, 31, bucket)
        assert refused.value.errors()[0]["loc"] == ("query", "to")
        assert message in refused.value.errors()[0]["msg"]


def test_naive_times_are_utc_and_unknown_parameters_are_refused() -> None:
    query = SearchQuery.model_validate({"from": "2026-11-30T10:00", "to": "2026-11-30T11:00"})
    assert query.start.tzinfo is not None and query.start.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="Extra inputs"):
        SearchQuery.model_validate({"from": T0, "to": T0, "colour": "red"})


def test_keys_have_the_shape_the_store_parses() -> None:
    key_id, secret, key = new_key()
    assert KEY_PATTERN.match(key).groups() == (key_id, secret)
    assert new_key()[2] != key


def _row(prev: str, seq: int, amount: int, after: int, direction: str = "CREDIT") -> dict:
    event_time = T0 + timedelta(seconds=seq)
    ms = int(event_time.timestamp() * 1000)
    fields = dict(posting_id=f"tx{seq}:{direction[0]}", tx_id=f"tx{seq}", account="acc-1",
                  currency="EUR", direction=direction, amount=amount, balance_after=after,
                  account_seq=seq, prev_hash=prev, event_time=event_time)
    fields["hash"] = chain_hash(prev, fields["posting_id"], fields["tx_id"], "acc-1", "EUR",
                                direction, amount, after, seq, ms)
    return fields


def test_the_chain_check_finds_a_changed_amount_a_gap_and_a_wrong_balance() -> None:
    first = _row(GENESIS, 1, 500, 500)
    second = _row(first["hash"], 2, 200, 300, "DEBIT")
    assert check_row(first, Tip(0, GENESIS), {}) is None
    assert check_row(second, Tip(1, first["hash"]), {"EUR": 500}) is None
    assert "hash" in check_row({**second, "amount": 1}, Tip(1, first["hash"]), {"EUR": 500})
    assert "sequence 2 follows 0" in check_row(second, Tip(0, GENESIS), {})
    assert "balance_after" in check_row(second, Tip(1, first["hash"]), {"EUR": 400})


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00.0+01:01", "9999-12-31T23:59:59-01:00",
                                    "1969-12-31T23:59:59Z"])
def test_a_moment_off_the_calendar_is_a_422_naming_the_parameter_not_a_500(moment: str) -> None:
    """schemathesis found year 1 with an offset: converting it to UTC raised (a 500)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        TimeRange.model_validate({"from": moment, "to": "2026-01-01T00:00:00Z"})
    assert raised.value.errors()[0]["loc"] == ("from",)
