"""Formats others rely on without our code: the webhook signature and the ledger's hash chain.

Partners verify `Paystream-Signature` with their own HMAC code and auditors re-hash ledger rows
with their own SHA-256 (docs/design.md): these tests compute both the way an outsider would, so a
change to either format fails here before it breaks them.
"""

from __future__ import annotations

import hashlib
import hmac

from streams.ledgerchain import GENESIS, chain_hash
from streams.partners import SIGNATURE_TOLERANCE_S, sign, verify_signature

SECRET = "whsec-test"
BODY = b'{"event_id":"e1","kind":"DECISION"}'
AT = 1_767_225_600


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    digest = hmac.new(SECRET.encode(), f"{AT}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, AT, BODY) == f"t={AT},v1={digest}"


def test_a_receiver_accepts_only_a_recent_signature_of_this_body_and_secret() -> None:
    header = sign(SECRET, AT, BODY)
    assert verify_signature(SECRET, header, BODY, now_s=AT + 10)
    assert not verify_signature(SECRET, header, BODY + b" ", now_s=AT + 10)  # body changed
    assert not verify_signature("other", header, BODY, now_s=AT + 10)  # someone else's secret
    assert not verify_signature(SECRET, header, BODY, now_s=AT + SIGNATURE_TOLERANCE_S + 1)  # replayed late
    for broken in ("", "v1=abc", "t=soon,v1=abc", f"t={AT}"):
        assert not verify_signature(SECRET, broken, BODY, now_s=AT)


def test_a_ledger_row_hash_is_sha256_of_its_fields_joined_by_bars() -> None:
    fields = ("tx-1:D", "tx-1", "acc-1", "EUR", "DEBIT", 1500, 8500, 2, 1_767_225_600_000)
    outsider = hashlib.sha256("|".join((GENESIS, *map(str, fields))).encode()).hexdigest()
    assert chain_hash(GENESIS, *fields) == outsider  # type: ignore[arg-type]
    assert outsider == "e389126bedc1f9e09401cbea623002aa9765f652377343253c0b44aa57671d62"
    # Each link covers the one before: a different predecessor, a different hash.
    assert chain_hash(outsider, *fields) != outsider  # type: ignore[arg-type]
