"""The benchmark's arithmetic and profile folding: what the README's figures are computed by."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loadtest.benchstats import (
    Decisions,
    busy_share,
    cpu_us_per_tx,
    latency_by_second,
    latency_ms,
    markdown,
    per_second,
    sustained_tps,
)
from loadtest.procstat import CpuMeter
from loadtest.profile import fold


def decisions(latencies_ms: list[int], start_ms: int = 1_000_000) -> Decisions:
    produced = np.arange(len(latencies_ms), dtype=np.int64) * 10 + start_ms
    return Decisions(produced, produced + np.asarray(latencies_ms, dtype=np.int64))


def test_latency_percentiles_are_of_decided_minus_produced() -> None:
    figures = latency_ms(decisions(list(range(1, 101))))  # 1..100 ms
    assert figures["e2e_p50_ms"] == pytest.approx(50.5)
    assert figures["e2e_p99_ms"] == 99.0  # 99.01, rounded to 0.1 ms
    assert figures["e2e_max_ms"] == 100


def test_no_decisions_give_no_latency_rather_than_zero() -> None:
    figures = latency_ms(decisions([]))
    assert all(math.isnan(v) for v in figures.values())


def test_per_second_counts_from_the_origin() -> None:
    times = np.array([1_000, 1_999, 2_000, 4_500, 500], dtype=np.int64)
    assert per_second(times, 1_000).tolist() == [2, 1, 0, 1]  # 500 is before the origin


def test_latency_by_second_groups_by_decision_time() -> None:
    d = Decisions(np.array([0, 0, 1_000, 1_000]), np.array([100, 300, 1_200, 1_900]))
    by_second = latency_by_second(d, 0, (50,))
    assert by_second[50].tolist() == [200.0, 550.0]


def test_sustained_tps_spans_first_produce_to_last_sink_row() -> None:
    assert sustained_tps(10_000, 1_000, 3_000) == 5_000.0
    with pytest.raises(ValueError, match="clocks"):
        sustained_tps(10, 5_000, 4_000)


def test_cpu_per_transaction_with_total() -> None:
    assert cpu_us_per_tx({"worker-1": 1.5, "kafka": 0.5}, 10_000) == {
        "kafka": 50.0, "worker-1": 150.0, "total": 200.0}


def test_cpu_meter_counts_only_between_start_and_the_last_sample() -> None:
    readings = {1: iter([10.0, 12.0, 15.0]), 2: iter([3.0, 4.0])}
    meter = CpuMeter({"a": 1}, reader=lambda pid: next(readings[pid]))
    meter.start()            # a: 10
    meter.add("b", 2)        # started later: counts from zero
    meter.sample()           # a: 12, b: 3
    meter.sample()           # a: 15, b: 4
    meter.record("gen", 2.5)
    assert meter.seconds() == {"a": 5.0, "b": 4.0, "gen": 2.5}


def test_profile_fold_drops_idle_and_counts_each_sample_once() -> None:
    raw = "\n".join([
        "main;BatchPipeline.authorize;triage (agents/authorizer.py:87);decode 6",
        "main;faust/streams.py;Authorizer.apply;_assess (agents/authorizer.py:201);score 3",
        "main;faust/streams.py:1180 1",
        "main;base_events;EpollSelector.select (selectors.py:468) 50",
    ])
    shares = fold(raw)
    assert shares["authorize: decode + validate (triage)"] == pytest.approx(0.6)
    assert shares["authorize: fraud features + model"] == pytest.approx(0.3)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_markdown_names_machine_phases_and_processes() -> None:
    phase = {"transactions": 1000, "offered_tps": None, "tps": 2500.0, "e2e_p50_ms": 40.0,
             "e2e_p95_ms": 90.0, "e2e_p99_ms": 12_500.0, "e2e_max_ms": 20_000.0,
             "cpu_us_per_tx": {"worker-1": 150.0, "total": 150.0}}
    text = markdown({"date": "2026-11-21", "machine": {"cores": 2, "cpu": "EPYC",
                                                       "memory_gib": 23.5},
                     "workers": 2, "reconciled": True, "chart": "c.png", "json": "r.json",
                     "phases": {"max_rate": {**phase, "busy_share": 0.98, "speed_probe_us": 520.0,
                                              "broker_jit_us_per_tx": 5.5},
                                "fixed_rate": {**phase, "offered_tps": 8000, "busy_share": 0.9,
                                               "redis_aof_rewrites": 1,
                                               "machine_slowdown": 1.52,
                                               "speed_probe_us": 790.0,
                                               "postgres_autovacuums": [
                                                   ["ledger", "vacuum", 41.5],
                                                   ["report_transactions", "analyze", 12.0]],
                                               "broker_jit_us_per_tx": 1.3,
                                               "cpu_us_per_tx": {"worker-1": 210.0,
                                                                 "total": 210.0}}},
                     "broker_warmup": {"us_per_message_by_window": [480.0, 120.4, 93.2],
                                       "jit_share_by_window": [0.61, 0.2, 0.01], "warm": True,
                                       "rate_per_s": 5000, "window_s": 5.0}})
    assert "Reconciled: **true**" in text
    assert "| max rate | 1,000 | as fast as Kafka takes | 2,500 | 40 ms | 90 ms | 12.50 s |" in text
    assert "| fixed rate | 1,000 | 8,000/s |" in text
    assert "| worker-1 | 150.0 | 210.0 |" in text  # each process at both rates
    assert "90% of the machine was busy at that rate (98% at the max rate, first produce to last sink row)" in text
    assert "Redis AOF rewrites during the fixed-rate phase: 1 " in text
    assert "The machine itself ran 1.52x as slow in the fixed-rate phase as in the max-rate one" in text
    assert ("PostgreSQL's autovacuums during the fixed-rate phase: vacuum of ledger, analyze of "
            "report_transactions (") in text
    assert ("the broker's JIT compiler threads took 5.5 µs/tx at the max rate and 1.3 at the "
            "fixed rate") in text  # the tail's usual cause
    assert ("µs of its CPU per message in 5 s windows at 5,000/s: 480 (61% JIT), 120 (20% JIT), "
            "93 (1% JIT).") in text


def test_markdown_lays_the_fixed_rates_profile_beside_the_max_rates() -> None:
    phase = {"transactions": 1000, "offered_tps": None, "tps": 2500.0, "e2e_p50_ms": 40.0,
             "e2e_p95_ms": 90.0, "e2e_p99_ms": 120.0, "e2e_max_ms": 200.0,
             "cpu_us_per_tx": {"worker-1": 30.0, "total": 30.0}}
    result = {"date": "2026-12-06", "machine": {"cores": 2, "cpu": "EPYC", "memory_gib": 23.5},
              "workers": 2, "reconciled": True, "chart": "c.png", "json": "r.json",
              "phases": {"max_rate": phase, "fixed_rate": phase},
              "profile": {"process": "worker-1", "file": "a.txt", "seconds": 30.0,
                          "us_per_tx": {"settle": 4.2, "Redis: state read": 1.6}}}
    assert "| settle | 4.2 |" in markdown(result)  # the max rate's alone
    text = markdown({**result, "profile_fixed_rate": {
        "process": "worker-1", "file": "b.txt", "seconds": 30.0, "us_per_tx": {"settle": 5.9}}})
    assert "| part | max rate, µs/tx | fixed rate, µs/tx |" in text
    assert "| settle | 4.2 | 5.9 |" in text and "| Redis: state read | 1.6 | 0.0 |" in text
    assert "`a.txt`, `b.txt`" in text


def test_the_floor_multiple_is_paystreams_cpu_the_generator_reported_apart() -> None:
    from loadtest.benchstats import paystream_us_per_tx

    cpu = {"worker-1": 100.0, "load-generator": 4.7, "postgres": 45.3, "total": 150.0}
    assert paystream_us_per_tx(cpu) == 145.3
    assert paystream_us_per_tx({"worker-1": 9.0, "total": 9.0}) == 9.0  # no generator measured
    phase = {"transactions": 1000, "offered_tps": None, "tps": 2500.0, "e2e_p50_ms": 40.0,
             "e2e_p95_ms": 90.0, "e2e_p99_ms": 120.0, "e2e_max_ms": 200.0, "cpu_us_per_tx": cpu}
    us = {"total": 50.0, "kafka": 12.0, "kafka_client": 10.0, "kafka_broker": 2.0,
          "postgres": 38.0, "postgres_server": 35.0, "postgres_client": 3.0}
    text = markdown({"date": "2026-12-05", "machine": {"cores": 2, "cpu": "EPYC",
                                                       "memory_gib": 23.5},
                     "workers": 2, "reconciled": True, "chart": "c.png", "json": "r.json",
                     "phases": {"max_rate": phase, "fixed_rate": phase},
                     "floor": {"us_per_tx": us}, "cpu_us_per_tx_total": 145.3,
                     "floor_multiple": 2.91, "cpu_us_per_tx_with_generator": 150.0,
                     "floor_multiple_with_generator": 3.0})
    assert "**paystream's CPU per transaction 145.3 µs = 2.91x the run's physical floor" in text
    assert "With the load generator (the upstream producers' stand-in" in text
    assert "150.0 µs, 3.00x." in text
    # the PostgreSQL copies' repeats, and the machine's speed around them: the floor is measured
    # minutes after the phases, on a machine whose speed drifts
    text = markdown({"date": "2026-12-05", "machine": {"cores": 2, "cpu": "EPYC",
                                                       "memory_gib": 23.5},
                     "phases": {"max_rate": phase, "fixed_rate": phase}, "workers": 2, "reconciled": True, "chart": "c.png", "json": "r.json",
                     "floor": {"us_per_tx": us, "postgres_us_per_tx_repeats": [38.0, 36.5, 39.1],
                               "postgres_speed_probe_us": 471.3},
                     "cpu_us_per_tx_total": 145.3, "floor_multiple": 2.91,
                     "cpu_us_per_tx_with_generator": 150.0, "floor_multiple_with_generator": 3.0})
    assert ("the median of 3 measurements: 38.0, 36.5, 39.1; the machine's speed probe around "
            "them 471.3 µs)") in text
    # since 2026-12-08 each part is the lowest of its measurements, Kafka's too
    floor = {"us_per_tx": {**us, "postgres": 36.5},
             "postgres_us_per_tx_repeats": [38.0, 36.5, 39.1], "kafka_us_per_tx_repeats": [14.4, 12.0],
             "postgres_speed_probe_us": 471.3}
    text = markdown({"date": "2026-12-08", "machine": {"cores": 2, "cpu": "EPYC",
                                                       "memory_gib": 23.5},
                     "phases": {"max_rate": phase, "fixed_rate": phase}, "workers": 2,
                     "reconciled": True, "chart": "c.png", "json": "r.json", "floor": floor,
                     "cpu_us_per_tx_total": 145.3, "floor_multiple": 2.91,
                     "cpu_us_per_tx_with_generator": 150.0, "floor_multiple_with_generator": 3.0})
    assert "broker 2.0; the lowest of 2 measurements: 14.4, 12.0; its own PostgreSQL" in text
    assert ("the lowest of 3 measurements: 38.0, 36.5, 39.1; the machine's speed probe around "
            "them 471.3 µs)") in text


def test_busy_share_is_cpu_over_wall_time_and_cores() -> None:
    assert busy_share({"worker-1": 3.0, "kafka": 1.0}, wall_s=4.0, cores=2) == 0.5
    assert busy_share({"worker-1": 3.0}, wall_s=0.0, cores=2) is None


def test_cpu_between_takes_the_share_of_each_reading_interval_inside_the_window() -> None:
    from loadtest.benchstats import cpu_between

    samples = [(1000.0, {"redis": 10.0}), (2000.0, {"redis": 11.0, "worker-1": 3.0}),
               (4000.0, {"redis": 13.0, "worker-1": 5.0}),
               (9000.0, {"redis": 13.5, "worker-1": 5.0})]  # idle, waiting for the sinks
    assert cpu_between(samples, 1500.0, 4000.0) == {"redis": 2.5, "worker-1": 2.0}
    # half of the last interval, so half of its 0.5 s
    assert cpu_between(samples, 1000.0, 6500.0) == {"redis": 3.25, "worker-1": 2.0}
    assert cpu_between(samples, 9000.0, 9500.0) == {}


def test_the_busy_share_shown_is_the_throughput_windows_when_recorded() -> None:
    from loadtest.benchstats import _busy

    assert _busy({"busy_share": 0.67, "busy_share_throughput": 0.94}) == "94%"
    assert _busy({"busy_share": 0.67}) == "67%"  # runs before it was recorded
    assert _busy({}) == "-"


def test_cores_by_second_spreads_each_interval_over_the_seconds_it_covers() -> None:
    from loadtest.benchstats import cores_by_second

    samples = [(1000.0, {"redis": 10.0}), (2000.0, {"redis": 10.5, "worker-1": 3.0}),
               (3000.0, {"redis": 11.5, "worker-1": 3.5}),
               (7000.0, {"redis": 13.5, "worker-1": 3.5})]  # 4 s between two phases
    cores = cores_by_second(samples, origin_ms=0)
    assert cores["redis"].tolist() == [0.0, 0.0, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5]
    # a process first read later has no rate before its second reading
    assert cores["worker-1"].tolist() == [0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]


def test_the_meter_keeps_every_sample_with_its_time() -> None:
    readings = iter([1.0, 2.0, 4.0])
    times = iter([100.0, 1100.0, 2100.0])
    meter = CpuMeter({"a": 1}, reader=lambda _pid: next(readings), clock_ms=lambda: next(times))
    meter.start()
    meter.sample()
    meter.sample()
    assert meter.samples == [(100.0, {"a": 1.0}), (1100.0, {"a": 2.0}), (2100.0, {"a": 4.0})]
