"""The state store's command packer (paystream_avro.pack_command): the bytes hiredis packs.

Every batch's read and commit go to Redis as one EVALSHA packed by it (agents/store.py): a byte
out of place is a command Redis misreads, a key or a balance written wrong.
"""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paystream_avro import pack_command

ARGUMENT = st.one_of(
    st.text(),  # unicode, empty, NUL: written as UTF-8
    st.binary(),
    st.integers(),  # past 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=500)
@given(st.lists(ARGUMENT, min_size=1, max_size=40))
def test_packs_what_hiredis_packs(parts: list) -> None:
    command = tuple(parts)
    assert pack_command(command) == hiredis.pack_command(command)


def test_a_batch_sized_evalsha() -> None:
    keys = [f"ps:bench.t:{n:08x}" for n in range(20_000)]
    args = [value for n in range(20_000) for value in (str(n), n, b"\x00\xff" * (n % 7), "h")]
    command = ("EVALSHA", "a" * 40, len(keys), *keys, *args)
    packed = pack_command(command)
    assert packed == hiredis.pack_command(command)
    assert packed.startswith(b"*100003\r\n$7\r\nEVALSHA\r\n$40\r\n")


@pytest.mark.parametrize("refused", [True, None, [1], {"a": 1}, 1 + 2j])
def test_refuses_what_hiredis_refuses(refused: object) -> None:
    with pytest.raises(TypeError, match="must be str, int, float or bytes"):
        hiredis.pack_command(("SET", refused))
    with pytest.raises(TypeError, match="must be str, int, float or bytes"):
        pack_command(("SET", refused))
