"""The transaction record as the worker builds it from a decoded message (a msgspec Struct)."""

from __future__ import annotations

import msgspec
import pytest

from streams.codec import SingleObjectCodec, load_versions
from streams.records import Channel, Payout, Transaction, TransactionType

VERSIONS = load_versions("transaction")
PAYOUT = Transaction("tx-p", TransactionType.PAYOUT, "acc-1", "sys:partner:mpesa-ke", 2_000, "EUR",
                     1_767_225_600_000, Channel.API, "FR", device_id="dev-1", ip="10.0.0.1",
                     metadata={"ref": "x"}, auth_method="PIN",
                     payout=Payout("wallet-fr", "mpesa-ke", "ben-1", 280_500, "KES", "140.25", "q-1"))


def test_a_decoded_record_builds_the_same_transaction_with_enums_and_nested_payout() -> None:
    codec = SingleObjectCodec(VERSIONS)
    tx = Transaction.from_record(codec.decode(codec.encode(PAYOUT.to_record())))
    assert tx == PAYOUT
    assert tx.type is TransactionType.PAYOUT and tx.channel is Channel.API
    assert isinstance(tx.payout, Payout) and tx.payout.fx_rate == "140.25"


def test_a_v1_record_gets_the_newer_fields_defaults() -> None:
    v1 = {k: v for k, v in PAYOUT.to_record().items() if k not in ("auth_method", "payout")}
    v1["type"] = "TRANSFER"
    v1["destination_account"] = "acc-2"
    newest = SingleObjectCodec(VERSIONS)
    record = newest.decode(SingleObjectCodec(VERSIONS, writer_version=1).encode(v1))
    tx = Transaction.from_record(record)
    assert (tx.auth_method, tx.payout, tx.metadata) == (None, None, {"ref": "x"})


def test_a_transaction_cannot_be_changed_in_place() -> None:
    with pytest.raises(AttributeError):
        PAYOUT.amount = 1  # type: ignore[misc]
    assert msgspec.structs.replace(PAYOUT, amount=1).amount == 1 and PAYOUT.amount == 2_000


def test_each_built_transaction_has_its_own_metadata() -> None:
    first = Transaction("t1", TransactionType.TRANSFER, "a", "b", 1, "EUR", 1, Channel.WEB, "DE")
    second = Transaction("t2", TransactionType.TRANSFER, "a", "b", 1, "EUR", 1, Channel.WEB, "DE")
    first.metadata["k"] = "v"
    assert second.metadata == {}


@pytest.mark.parametrize(("field", "value"), [("amount", "100"), ("type", "REFUND"), ("tx_id", None)])
def test_a_record_of_the_wrong_types_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        Transaction.from_record({**PAYOUT.to_record(), field: value})
