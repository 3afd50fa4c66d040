"""Business validation and JSON-lines parsing: every refusal names its field."""

from __future__ import annotations

import ipaddress
import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import ValidationError
from streams.jsonlines import parse_line, to_line
from streams.records import Channel, Transaction, TransactionType
from streams.validation import is_ip_address, validate

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SKEW_MS = 3_600_000


def _tx(**changes: object) -> Transaction:
    tx = Transaction(
        tx_id="tx-1", type=TransactionType.TRANSFER, source_account="acc-1",
        destination_account="acc-2", amount=1_000, currency="EUR", event_time=NOW_MS - 1_000,
        channel=Channel.MOBILE, country="DE", device_id="dev-1", ip="192.0.2.1",
    )
    return msgspec.structs.replace(tx, **changes)


def test_a_valid_transaction_passes() -> None:
    validate(_tx(), NOW_MS, SKEW_MS)


@pytest.mark.parametrize("changes, field", [
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"amount": 10**16}, "amount"),
    ({"currency": "XXY"}, "currency"),
    ({"currency": "eur"}, "currency"),
    ({"country": "ZZ"}, "country"),
    ({"destination_account": "acc-1"}, "destination_account"),
    ({"tx_id": ""}, "tx_id"),
    ({"tx_id": "x" * 65}, "tx_id"),
    ({"tx_id": "tx 1"}, "tx_id"),
    ({"tx_id": "tx-1\n"}, "tx_id"),  # `$` alone let a final newline through
    ({"source_account": "acc/1"}, "source_account"),
    ({"event_time": 0}, "event_time"),
    ({"event_time": NOW_MS + SKEW_MS + 1}, "event_time"),
    ({"ip": "300.1.1.1"}, "ip"),
    ({"merchant_category": "54a1"}, "merchant_category"),
    ({"merchant_category": "5411\n"}, "merchant_category"),
    ({"auth_method": "FACE"}, "auth_method"),
    ({"source_account": "sys:settlement:EUR"}, "source_account"),
    ({"type": TransactionType.DEPOSIT}, "source_account"),
    ({"type": TransactionType.WITHDRAWAL}, "destination_account"),
])
def test_each_broken_rule_names_its_field(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(_tx(**changes), NOW_MS, SKEW_MS)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_deposit_from_settlement_and_withdrawal_to_it_are_valid() -> None:
    validate(_tx(type=TransactionType.DEPOSIT, source_account="sys:settlement:EUR"), NOW_MS, SKEW_MS)
    validate(_tx(type=TransactionType.WITHDRAWAL, destination_account="sys:settlement:EUR"),
             NOW_MS, SKEW_MS)


def test_deposit_is_keyed_by_the_customer_it_credits() -> None:
    deposit = _tx(type=TransactionType.DEPOSIT, source_account="sys:settlement:EUR")
    assert deposit.partition_key == "acc-2"
    assert _tx().partition_key == "acc-1"


def test_json_line_round_trip() -> None:
    tx = _tx(metadata={"order": "7"}, auth_method="PIN")
    assert parse_line(to_line(tx)) == tx


def test_json_line_accepts_iso_event_time_and_defaults_channel() -> None:
    record = {k: v for k, v in _tx().to_record().items() if v is not None and k != "channel"}
    record["event_time"] = "2026-01-01T00:00:00.500Z"
    tx = parse_line(json.dumps(record))
    assert tx.event_time == NOW_MS + 500
    assert tx.channel is Channel.OTHER


@pytest.mark.parametrize("line, field", [
    ("{not json", "line"),
    ("[1, 2]", "line"),
    ('{"tx_id": "t"}', "type"),
    (json.dumps({**_tx().to_record(), "amount": 10.5}), "amount"),
    (json.dumps({**_tx().to_record(), "amount": "100"}), "amount"),
    (json.dumps({**_tx().to_record(), "type": "REFUND"}), "type"),
    (json.dumps({**_tx().to_record(), "event_time": "2026-01-01T00:00:00"}), "event_time"),
    (json.dumps({**_tx().to_record(), "colour": "red"}), "colour"),
    (json.dumps({**_tx().to_record(), "metadata": {"n": 1}}), "metadata"),
])
def test_bad_json_lines_name_the_field(line: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_line(line)
    assert caught.value.field == field


def _ipaddress_accepts(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


_OCTETS = st.lists(st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "010", "255", ""]),
                   min_size=3, max_size=5).map(".".join)
_GROUPS = st.lists(st.integers(0, 0xFFFFF).map(lambda n: format(n, "x")) | st.just(""),
                   min_size=1, max_size=10).map(":".join)


@settings(max_examples=3000)
@given(_OCTETS | _GROUPS | st.tuples(_GROUPS, _OCTETS).map(":".join) | st.text("0123456789abcdefABCDEF:.%x \x00é", max_size=24))
def test_ip_addresses_are_what_ipaddress_accepts(text: str) -> None:
    """The fast check must neither let through what the standard library refuses (the rule's
    definition) nor refuse what it accepts."""
    assert is_ip_address(text) == _ipaddress_accepts(text)


@pytest.mark.parametrize("text", ["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0"])
def test_ip_addresses_that_pass(text: str) -> None:
    assert is_ip_address(text)


@pytest.mark.parametrize("text", ["192.0.2.01", "256.1.1.1", "1.2.3", "2001:db8:::1", "", "1.2.3.4\x00"])
def test_ip_addresses_that_fail(text: str) -> None:
    assert not is_ip_address(text)
