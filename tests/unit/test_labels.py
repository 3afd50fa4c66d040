"""Reading fraud labels from CSV: what is sent, and each bad line reported by its number."""

from __future__ import annotations

import io

import pytest

from streams.errors import ValidationError
from streams.labels import label, parse_time_ms, read_csv

NOW = 1_790_000_000_000


def _read(text: str, source: str = "CHARGEBACK"):  # type: ignore[no-untyped-def]
    labels, bad, _ = read_csv(io.StringIO(text), source, NOW)
    return (list(labels) if labels is not None else None), bad


def test_good_lines_are_sent_and_bad_ones_reported_by_line_number() -> None:
    labels, bad = _read("tx_id,is_fraud,reported_at,scenario\n"
                        "a,1,2026-11-01T10:00:00Z,card\n"
                        "b,false,,\n"
                        "c,maybe,,\n"
                        "d,1,yesterday,\n"
                        ",1,,\n"
                        "e,0,1790000000123,x\n")
    assert [(lab["tx_id"], lab["is_fraud"], lab["reported_at"]) for lab in labels] == [
        ("a", True, 1793527200000), ("b", False, NOW), ("e", False, 1790000000123)]
    assert all(lab["source"] == "CHARGEBACK" and lab["note"] is None for lab in labels)
    assert [(b.line, b.problem.split("=")[0]) for b in bad] == [
        (4, "is_fraud"), (5, "reported_at"), (6, "tx_id")]


def test_a_source_and_note_column_win_over_the_default() -> None:
    labels, bad = _read("tx_id,is_fraud,source,note\nx,1,analyst,case 7\ny,1,police,\n")
    assert labels == [{"tx_id": "x", "is_fraud": True, "source": "ANALYST", "reported_at": NOW,
                       "note": "case 7", "source_account": None, "destination_account": None,
                       "event_time": None, "device_id": None}]
    assert bad[0].line == 3 and "source" in bad[0].problem


def test_a_label_may_name_its_transaction_all_three_fields_or_none() -> None:
    labels, bad = _read("tx_id,is_fraud,source_account,destination_account,event_time\n"
                        "x,1,card-1,terminal-9,2026-11-01T10:00:00Z\n"
                        "y,1,,,\n"
                        "z,1,card-3,,1790000000000\n"
                        "w,1,card-4,terminal-9,soon\n")
    assert [(lab["tx_id"], lab["source_account"], lab["destination_account"], lab["event_time"])
            for lab in labels] == [("x", "card-1", "terminal-9", 1793527200000), ("y", None, None, None)]
    assert [(b.line, b.problem.split("=")[0]) for b in bad] == [(4, "destination_account"),
                                                                (5, "event_time")]


def test_a_header_without_the_required_columns_sends_nothing() -> None:
    labels, bad = _read("id,fraud\n1,1\n")
    assert labels is None and bad[0].line == 1 and "tx_id, is_fraud" in bad[0].problem


def test_times_are_iso_or_epoch_milliseconds_never_seconds() -> None:
    assert parse_time_ms("2026-11-01T10:00:00+01:00") == 1793523600000
    assert parse_time_ms("2026-11-01 09:00:00") == 1793523600000  # no zone: UTC
    with pytest.raises(ValidationError):
        parse_time_ms("1790000000")  # seconds: refused, not read as 1970
    with pytest.raises(ValidationError):
        label("t", True, "RUMOUR", NOW)
