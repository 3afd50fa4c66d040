"""streams/msgpacking.py writes msgpack-python's bytes, so what was stored before reads the same."""

from __future__ import annotations

import msgpack
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.accounts import AccountState, Hold, StateError
from streams.msgpacking import pack, unpack

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=False) | st.text(max_size=300) | st.binary(max_size=300))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                      | st.lists(inner, max_size=3).map(tuple)  # the outbox's headers
                      | st.dictionaries(st.text(max_size=20), inner, max_size=5), max_leaves=30)


@given(VALUES)
def test_the_bytes_are_msgpack_pythons_and_read_back_alike(value: object) -> None:
    assert pack(value) == msgpack.packb(value, use_bin_type=True)
    assert unpack(pack(value)) == msgpack.unpackb(pack(value), raw=False)


def test_an_account_state_written_by_msgpack_python_reads_the_same() -> None:
    state = AccountState({"EUR": 12_345, "USD": -7}, {"t1": Hold("t1", "acc-2", 500, "EUR", 10, 20, "PAYMENT")},
                         17, {"t": 9_000_000_000, "r": 3}, b"\x00\x01profile", {"t3": 99})
    holds = [list(msgspec.structs.astuple(h)) for h in state.holds.values()]
    before = msgpack.packb([3, state.balances, holds, state.seq, state.applied, state.profile,
                            state.credit_marks], use_bin_type=True)
    assert state.encode() == before and AccountState.decode(before) == state


@pytest.mark.parametrize("data", [b"", b"\x93\x01", b"\x91\x01\x02", b"\xc1"])
def test_bytes_that_are_not_one_whole_value_are_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        unpack(data)


def test_outbox_entries_are_compressed_and_entries_written_before_still_read() -> None:
    """An outbox entry is zstd-compressed MessagePack; one an earlier version left in Redis
    (plain MessagePack) reads back the same after an upgrade, and is re-sent as it was."""
    from agents.batch import OutputMessage
    from agents.store import ZSTD_MAGIC, decode_outputs, encode_outputs

    messages = [OutputMessage("postings", f"acc-{i:08d}".encode(),
                              b"\xc3\x01" + f"tx-{i}-8a3d0a32:D|EUR|{i * 7}".encode() * 3,
                              [("paystream-batch", b"b-1")] if i % 2 else None)
                for i in range(200)]
    entry = encode_outputs(messages)
    assert entry.startswith(ZSTD_MAGIC)
    plain = pack([[m.role, m.key, m.value, m.headers] for m in messages])
    assert len(entry) < len(plain) / 3
    assert decode_outputs(entry) == messages
    assert decode_outputs(plain) == messages  # written before entries were compressed


def test_an_account_state_of_each_earlier_format_reads_and_is_written_as_the_current_one() -> None:
    """Format 1 kept velocity floats where the profile is (it starts afresh), format 2 had no
    credit marks; both are read field by field and written back as format 3."""
    hold = ["t1", "acc-2", 500, "EUR", 10, 20, "PAYMENT"]
    one = AccountState.decode(pack([1, {"EUR": 5}, [hold], 3, {"authorize": 7}, [0.5, 1.5]]))
    two = AccountState.decode(pack([2, {"EUR": 5}, [hold], 3, {"authorize": 7}, b"prof"]))
    assert one == AccountState({"EUR": 5}, {"t1": Hold(*hold)}, 3, {"authorize": 7}, b"", {})
    assert two == AccountState({"EUR": 5}, {"t1": Hold(*hold)}, 3, {"authorize": 7}, b"prof", {})
    assert two.encode() == pack([3, {"EUR": 5}, [hold], 3, {"authorize": 7}, b"prof", {}])


@pytest.mark.parametrize(("data", "says"), [
    (pack([4, {}, [], 0, {}, b"", {}]), "format 4, this build reads 1 to 3"),
    (b"\xc1", "unreadable account state"),
    (pack([3, {}, [["t1"]], 0, {}, b"", {}]), "unreadable account state"),
])
def test_an_account_state_this_build_cannot_read_is_a_state_error_that_says_why(
        data: bytes, says: str) -> None:
    with pytest.raises(StateError, match=says):
        AccountState.decode(data)


def test_an_account_state_keeps_its_holds_by_tx_id_and_writes_them_as_a_list() -> None:
    state = AccountState()
    state.holds["t1"] = Hold("t1", "acc-2", 500, "EUR", 10, 20, "PAYMENT")
    assert state.held("EUR") == 500 and state.available("EUR") == -500
    encoded = state.encode()
    assert unpack(encoded)[2] == [["t1", "acc-2", 500, "EUR", 10, 20, "PAYMENT"]]
    assert isinstance(state.holds, dict)  # the list was the wire's, for the call only
    assert AccountState.decode(encoded) == state
