"""PostgreSQL binary COPY data read back (the format's reference, "Binary Format" in COPY), to
check what the sinks' compiled rows (sinks/rows.py) hold without a server."""

from __future__ import annotations

import struct
from typing import Any

SIGNATURE = b"PGCOPY\n\xff\r\n\0"
PG_EPOCH_MS = 946_684_800_000


def _array(raw: bytes) -> list[str]:
    dims, _flags, _oid = struct.unpack_from(">iii", raw)
    if dims == 0:
        return []
    count, _lower = struct.unpack_from(">ii", raw, 12)
    items, offset = [], 20
    for _ in range(count):
        (size,) = struct.unpack_from(">i", raw, offset)
        items.append(raw[offset + 4:offset + 4 + size].decode())
        offset += 4 + size
    assert offset == len(raw)
    return items


_READ = {
    "t": lambda raw: raw.decode(),
    "i": lambda raw: struct.unpack(">q", raw)[0],
    "n": lambda raw: struct.unpack(">i", raw)[0],
    "f": lambda raw: struct.unpack(">d", raw)[0],
    "m": lambda raw: struct.unpack(">q", raw)[0] // 1000 + PG_EPOCH_MS,  # back to epoch ms
    "a": _array,
}


def read_copy(data: bytes, columns: tuple[str, ...], kinds: str) -> list[dict[str, Any]]:
    """The rows of `data` as dicts of `columns`, each read as its letter in `kinds` says
    (paystream_avro.copy_records' letters)."""
    assert data.startswith(SIGNATURE)
    _flags, extension = struct.unpack_from(">ii", data, len(SIGNATURE))
    offset = len(SIGNATURE) + 8 + extension
    rows = []
    while True:
        (fields,) = struct.unpack_from(">h", data, offset)
        offset += 2
        if fields == -1:
            assert offset == len(data), "bytes after the trailer"
            return rows
        assert fields == len(columns)
        row: dict[str, Any] = {}
        for column, kind in zip(columns, kinds, strict=True):
            (size,) = struct.unpack_from(">i", data, offset)
            offset += 4
            row[column] = None if size == -1 else _READ[kind](data[offset:offset + size])
            offset += max(size, 0)
        rows.append(row)
