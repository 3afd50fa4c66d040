"""Encoded-transaction files: what `paystream produce --encode-to` writes, `--replay` publishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.producer import read_encoded, write_encoded


def test_records_come_back_byte_for_byte_in_order(tmp_path: Path) -> None:
    records = [(b"acct-1", b"\x00\x01avro"), (b"", b""), (b"k" * 300, bytes(range(256)) * 40)]
    path = tmp_path / "load.bin"
    assert write_encoded(path, records) == 3
    assert list(read_encoded(path)) == records


def test_a_file_of_something_else_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "transactions.jsonl"
    path.write_text('{"tx_id": "t1"}\n')
    with pytest.raises(ConfigError, match=r"transactions\.jsonl: not an encoded-transactions"):
        list(read_encoded(path))


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "load.bin"
    write_encoded(path, [(b"acct-1", b"value-bytes")])
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ConfigError, match="truncated"):
        list(read_encoded(path))
