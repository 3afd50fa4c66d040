"""streams/msgpacking.py writes msgpack-python's bytes, so what was stored before reads the same."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.accounts import AccountState, Hold
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
    before = msgpack.packb([3, state.balances, [h.to_list() for h in state.holds.values()], state.seq,
                            state.applied, state.profile, state.credit_marks], use_bin_type=True)
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
