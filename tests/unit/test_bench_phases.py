"""The bench's fixed-rate phase offers the transactions that follow the max-rate phase's in one
generated stream (loadtest.bench.fixed_rate_phase), as many as its rate and duration call for."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from loadtest import bench, speed
from streams.producer import read_encoded, write_encoded


def rest_of_stream(tmp_path: Path, count: int) -> Path:
    rest = tmp_path / "transactions-rest.bin"
    write_encoded(rest, ((f"acc-{i}".encode(), f"tx-{i}".encode()) for i in range(count)))
    return rest


def top_phase(tmp_path: Path, tps: int) -> bench.Phase:
    """A max-rate phase that sustained `tps` (1 s from its first produce to its last row)."""
    top = bench.Phase("max rate", tps, tmp_path / "transactions-max-rate.bin", accounts=100)
    top.started_ms, top.last_sink_row_ms = 1_000, 2_000
    return top


def test_the_fixed_rate_takes_the_next_transactions_of_the_stream(tmp_path: Path) -> None:
    rest = rest_of_stream(tmp_path, 2_000)
    args = argparse.Namespace(rate=None, rate_s=2.0, accounts=100)
    phase = bench.fixed_rate_phase(args, top_phase(tmp_path, 1_000), rest)
    # 70% of the 1,000 tps sustained, for 2 s: the stream's next 1,400, in order
    assert (phase.rate, phase.transactions, phase.accounts) == (700, 1_400, 100)
    assert [value for _, value in read_encoded(phase.encoded)] == \
        [f"tx-{i}".encode() for i in range(1_400)]
    assert not rest.exists()


def test_an_explicit_rate_is_offered_as_given(tmp_path: Path) -> None:
    args = argparse.Namespace(rate=250.0, rate_s=4.0, accounts=100)
    assert bench.fixed_rate_cap(args) == 1_000
    phase = bench.fixed_rate_phase(args, top_phase(tmp_path, 5_000), rest_of_stream(tmp_path, 1_000))
    assert (phase.rate, phase.transactions) == (250.0, 1_000)


def test_a_max_rate_past_the_cap_offers_what_was_generated_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench, "MAX_RATE_CAP_TPS", 1_000)
    args = argparse.Namespace(rate=None, rate_s=2.0, accounts=100)
    cap = bench.fixed_rate_cap(args)
    assert cap == 1_400  # 70% of 1,000 tps for 2 s
    phase = bench.fixed_rate_phase(args, top_phase(tmp_path, 3_000), rest_of_stream(tmp_path, cap))
    assert (phase.rate, phase.transactions) == (2_100, 1_400)
    assert len(list(read_encoded(phase.encoded))) == 1_400
    assert "offering 1,400, 1 s" in capsys.readouterr().out


def test_autovacuums_of_a_phase_are_each_one_counted_with_its_tables_last_end() -> None:
    before = {("ledger", "vacuum"): (3, 1_000), ("ledger", "analyze"): (1, 900),
              ("report_transactions", "vacuum"): (0, None)}
    after = {("ledger", "vacuum"): (5, 42_500), ("ledger", "analyze"): (1, 900),
             ("report_transactions", "vacuum"): (1, 12_000), ("rollup_minute", "analyze"): (1, None)}
    assert bench.autovacuums_since(before, after, started_ms=2_000) == [
        ("ledger", "vacuum", 40.5), ("ledger", "vacuum", 40.5),
        ("report_transactions", "vacuum", 10.0), ("rollup_minute", "analyze", 0.0)]
    assert bench.autovacuums_since(after, after, started_ms=2_000) == []


def test_the_machines_slowdown_is_the_ratio_of_the_probes_medians() -> None:
    assert speed.slowdown([780.0, 800.0, 5_000.0], [520.0, 510.0, 530.0]) == 1.54
    assert speed.slowdown([], [520.0]) is None  # a phase too short to sample says nothing


def test_the_speed_probe_counts_cpu_time_not_waiting() -> None:
    import time

    started = time.perf_counter()
    probe = speed.probe_us(repeats=1)
    # In µs: 6,000 dict updates take well over 50 µs on any CPU, and no more than the wall time.
    assert 50 <= probe <= (time.perf_counter() - started) * 1e6 + 1_000
