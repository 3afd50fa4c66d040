"""A sink's batch as rows, in compiled code: from the message values straight to COPY data.

The ledger and reporting sinks spent most of their own CPU turning records into rows: the
codec made a dict of each message, Python read it into a tuple per row (the ledger hashing
each row on the way), and asyncpg encoded the tuple value by value (~11 µs per transaction of
the two sinks' CPU alone, 2026-12-04). paystream_avro's PostingRows and DecisionRows (native/
avro/src/sinkrows.rs) decode a batch's Avro bodies into Rust structs and write the binary COPY
data themselves, the ledger's chain included.

That path takes a batch whose messages are all framed with the reader's schema, as our own
workers write them. Anything else (an older writer version, a registry's framing, a body that
does not decode) gives None, and the runner decodes the batch record by record through the
codec, which says what is wrong with a bad one; the writers take those records too
(`from_records`).
"""

from __future__ import annotations

from typing import Any

from paystream_avro import DecisionRows, PostingRows

from streams.codec import Codec


def _decoded(kind: Any, codec: Codec, values: list[bytes]) -> Any:
    header = getattr(codec, "reader_header", None)
    if header is None:  # the registry's framing (streams.codec.ConfluentCodec)
        return None
    return kind.decode(codec.reader.native, header, values)  # type: ignore[attr-defined]


def postings(codec: Codec, values: list[bytes]) -> PostingRows | None:
    """The ledger sink's batch; None: decode it record by record."""
    return _decoded(PostingRows, codec, values)


def decisions(codec: Codec, values: list[bytes]) -> DecisionRows | None:
    """The reporting sink's batch; None: decode it record by record."""
    return _decoded(DecisionRows, codec, values)
