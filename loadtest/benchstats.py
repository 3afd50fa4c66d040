"""The benchmark's arithmetic: latency percentiles, per-second series, CPU per transaction.

Pure functions over arrays the benchmark collected; no Kafka, database or clock here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Decisions:
    """One row per decision: when its transaction was produced and when it was decided (ms).

    `produced_ms` is the input message's Kafka timestamp (the producer's send time), `decided_ms`
    the decision message's (when the worker published it), both from this machine's clock.
    """

    produced_ms: np.ndarray
    decided_ms: np.ndarray

    def where(self, mask: np.ndarray) -> Decisions:
        return Decisions(self.produced_ms[mask], self.decided_ms[mask])

    def __len__(self) -> int:
        return len(self.produced_ms)


def latency_ms(decisions: Decisions) -> dict[str, float]:
    """Produce-to-decision latency: p50, p95, p99 and max, in ms."""
    if not len(decisions):
        return {f"e2e_p{p}_ms": float("nan") for p in PERCENTILES} | {"e2e_max_ms": float("nan")}
    latency = decisions.decided_ms - decisions.produced_ms
    values = np.percentile(latency, PERCENTILES)
    return {f"e2e_p{p}_ms": round(float(v), 1) for p, v in zip(PERCENTILES, values, strict=True)} | {
        "e2e_max_ms": float(latency.max())}


def per_second(times_ms: np.ndarray, origin_ms: int) -> np.ndarray:
    """How many events fell in each whole second after `origin_ms` (index = second)."""
    if not len(times_ms):
        return np.zeros(0, dtype=np.int64)
    seconds = ((times_ms - origin_ms) // 1000).astype(np.int64)
    seconds = seconds[seconds >= 0]
    return np.bincount(seconds) if len(seconds) else np.zeros(0, dtype=np.int64)


def latency_by_second(decisions: Decisions, origin_ms: int,
                      percentiles: tuple[int, ...] = (50, 99)) -> dict[int, np.ndarray]:
    """Per second of decision time: the latency percentiles of the decisions made in it."""
    if not len(decisions):
        return {p: np.zeros(0) for p in percentiles}
    seconds = ((decisions.decided_ms - origin_ms) // 1000).astype(np.int64)
    latency = decisions.decided_ms - decisions.produced_ms
    order = np.argsort(seconds, kind="stable")
    seconds, latency = seconds[order], latency[order]
    bounds = np.flatnonzero(np.diff(seconds)) + 1
    out = {p: np.full(int(seconds.max()) + 1, np.nan) for p in percentiles}
    for chunk_s, chunk in zip(np.split(seconds, bounds), np.split(latency, bounds), strict=True):
        if chunk_s[0] < 0:
            continue
        for p in percentiles:
            out[p][chunk_s[0]] = np.percentile(chunk, p)
    return out


def cpu_us_per_tx(cpu_s: dict[str, float], transactions: int) -> dict[str, float]:
    """Each process's CPU per transaction (µs), with the machine's total."""
    figures = {name: round(seconds * 1e6 / transactions, 1)
               for name, seconds in sorted(cpu_s.items())}
    figures["total"] = round(sum(cpu_s.values()) * 1e6 / transactions, 1)
    return figures


#: The process that stands for the upstream producers: on the machine, so its CPU is measured
#: (and in `cpu_us_per_tx["total"]`, the machine's), but not paystream's. The floor starts from
#: the input already in Kafka (loadtest/floor.py reads it; nothing there produces it), so the
#: multiple compares paystream's processes with it, and the generator is reported apart.
LOAD_GENERATOR = "load-generator"


def paystream_us_per_tx(cpu: dict[str, float]) -> float:
    """paystream's CPU per transaction: every measured process but the load generator."""
    return round(cpu["total"] - cpu.get(LOAD_GENERATOR, 0.0), 1)


def busy_share(cpu_s: dict[str, float], wall_s: float, cores: int) -> float | None:
    """The share of the machine's cores the measured processes kept busy over `wall_s`."""
    if wall_s <= 0:
        return None
    return round(sum(cpu_s.values()) / (wall_s * cores), 3)


def cpu_between(samples: list[tuple[float, dict[str, float]]], from_ms: float,
                to_ms: float) -> dict[str, float]:
    """Each process's CPU seconds between two wall times, from cumulative readings
    (`CpuMeter.samples`), linear between two readings: the throughput window's CPU (first
    produce to last sink row), where a phase's own wall time also covers the bench waiting for
    the sinks' last offset commits with the machine idle."""
    out: dict[str, float] = {}
    for (t0, before), (t1, after) in pairwise(samples):
        low, high = max(t0, from_ms), min(t1, to_ms)
        if t1 <= t0 or high <= low:
            continue
        for name, value in after.items():
            if name in before:
                out[name] = out.get(name, 0.0) + max(0.0, value - before[name]) * (high - low) / (t1 - t0)
    return out


def cores_by_second(samples: list[tuple[float, dict[str, float]]],
                    origin_ms: int) -> dict[str, np.ndarray]:
    """Each process's CPU, in cores, per second since `origin_ms`, from cumulative readings
    (`CpuMeter.samples`): every second an interval between two readings covers gets that
    interval's average (a long interval, between phases, is spread, not put in one second)."""
    if len(samples) < 2:
        return {}
    last_s = int((samples[-1][0] - origin_ms) // 1000)
    if last_s < 0:
        return {}
    out: dict[str, np.ndarray] = {}
    for (t0, before), (t1, after) in pairwise(samples):
        if t1 <= t0:
            continue
        first, end = int((t0 - origin_ms) // 1000) + 1, int((t1 - origin_ms) // 1000)
        if end < 0:  # the interval ended before the origin
            continue
        # An interval inside one second (first > end) fills just the second it ends in.
        seconds = slice(max(0, min(first, end)), end + 1)
        for name, value in after.items():
            if name in before:
                series = out.setdefault(name, np.zeros(last_s + 1))
                series[seconds] = max(0.0, value - before[name]) / ((t1 - t0) / 1000)
    return out


def sustained_tps(transactions: int, first_produce_ms: int, last_sink_row_ms: int) -> float:
    """Transactions per second from the first produce to the last ledger/reporting row."""
    span_s = (last_sink_row_ms - first_produce_ms) / 1000
    if span_s <= 0:
        raise ValueError("the last sink row precedes the first produce: clocks disagree")
    return round(transactions / span_s, 1)


def markdown(result: dict[str, Any]) -> str:
    """The short summary committed next to the JSON (and quoted in the README)."""
    machine = result["machine"]
    rate, top = result["phases"]["fixed_rate"], result["phases"]["max_rate"]
    lines = [
        f"# paystream benchmark, {result['date']}",
        "",
        (f"Machine: {machine['cores']} cores ({machine['cpu']}), "
         f"{machine['memory_gib']} GiB; everything co-located (Kafka, PostgreSQL, 2 Redis, "
         f"{result['workers']} workers, 2 sinks, the load generator replaying pre-encoded traffic). "
         f"Reconciled: **{str(result['reconciled']).lower()}**."),
        "",
        "| phase | transactions | offered | sustained tps | e2e p50 | p95 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, phase in (("max rate", top), ("fixed rate", rate)):
        offered = "as fast as Kafka takes" if phase["offered_tps"] is None \
            else f"{phase['offered_tps']:,.0f}/s"
        lines.append(
            f"| {name} | {phase['transactions']:,} | {offered} | {phase['tps']:,.0f} | "
            f"{_ms(phase['e2e_p50_ms'])} | {_ms(phase['e2e_p95_ms'])} | "
            f"{_ms(phase['e2e_p99_ms'])} | {_ms(phase['e2e_max_ms'])} |")
    floor = result.get("floor")
    if floor:
        us = floor["us_per_tx"]
        lines += ["", (f"**paystream's CPU per transaction {result['cpu_us_per_tx_total']:,.1f} "
                       f"µs = {result['floor_multiple']:.2f}x the run's physical floor of "
                       f"{us['total']:,.1f} µs** (its own Kafka messages, {us['kafka']:,.1f} µs: "
                       f"client {us['kafka_client']:,.1f} + broker {us['kafka_broker']:,.1f}"
                       f"{_repeats(floor, 'kafka')}; its "
                       f"own PostgreSQL rows by COPY, {us['postgres']:,.1f} µs: server "
                       f"{us['postgres_server']:,.1f} + client {us['postgres_client']:,.1f}"
                       f"{_repeats(floor, 'postgres')}). Target: 3x.{_with_generator(result)}")]
    if result.get("baseline_tps"):
        lines += ["", (f"Baseline measured in the same session on this machine: "
                       f"{result['baseline_tps']:,.0f} tps; this run {result['tps']:,.0f} tps = "
                       f"{result['tps_vs_baseline']:.2f}x.")]
    budget = machine["cores"] * 1_000_000 // 10_000
    lines += ["", (f"CPU per transaction (µs; 10,000 tps on {machine['cores']} cores leaves "
                   f"{budget:,} µs for everything). At the fixed rate batches are smaller and "
                   f"each transaction costs more: {_busy(rate)} of the machine was busy at that "
                   f"rate ({_busy(top)} at the max rate, first produce to last sink row), and "
                   f"the latency's tail queues for it:"),
              "",
              "| process | max rate | fixed rate |", "| --- | ---: | ---: |"]
    fixed = rate["cpu_us_per_tx"]
    lines += [f"| {name} | {us:,.1f} | {fixed.get(name, math.nan):,.1f} |"
              for name, us in top["cpu_us_per_tx"].items()]
    rewrites = rate.get("redis_aof_rewrites")
    if rewrites is not None:  # runs before 2026-12-03 did not record it
        lines += ["", (f"Redis AOF rewrites during the fixed-rate phase: {rewrites} (each stalls "
                       f"the account state's fsync'd writes, and the workers' batches with them, "
                       f"for a moment: where one falls in the phase, the latency's tail rises).")]
    slowdown = rate.get("machine_slowdown")
    if slowdown is not None:  # runs before 2026-12-06 (evening) did not record it
        lines += ["", (f"The machine itself ran {slowdown:.2f}x as slow in the fixed-rate phase as "
                       f"in the max-rate one (loadtest/speed.py: one fixed piece of work's CPU "
                       f"time, sampled each second, medians {rate.get('speed_probe_us')} and "
                       f"{top.get('speed_probe_us')} µs): every process's CPU per transaction "
                       f"moves by about that much with no more work done.")]
    vacuums = rate.get("postgres_autovacuums")
    if vacuums is not None:  # runs before 2026-12-06 (evening) did not record it
        ran = ", ".join(f"{what} of {table}" for table, what, _ in vacuums) or "none"
        lines += ["", (f"PostgreSQL's autovacuums during the fixed-rate phase: {ran} (one "
                       f"can take a good part of a core for seconds; the server's log has each "
                       f"with its CPU).")]
    jit = [phase.get("broker_jit_us_per_tx") for phase in (top, rate)]
    if None not in jit:  # runs before 2026-12-05 did not record it
        lines += ["", (f"Of kafka's CPU, the broker's JIT compiler threads took {jit[0]:,.1f} "
                       f"µs/tx at the max rate and {jit[1]:,.1f} at the fixed rate: a broker "
                       f"started minutes before still compiles its request paths through a "
                       f"first run, whatever the warm-up below did (a run right after `make "
                       f"up` pays it; a broker in service has long compiled them).")]
    warmup = result.get("broker_warmup")
    if warmup:  # runs before 2026-12-03 evening did not warm the broker
        shown = ", ".join(f"{us:,.0f} ({share:.0%} JIT)" for us, share in zip(
            warmup["us_per_message_by_window"], warmup["jit_share_by_window"], strict=True))
        lines += ["", (f"Before the phases the broker's JIT was warmed (loadtest/warmup.py), "
                       f"µs of its CPU per message in {warmup['window_s']:.0f} s windows at "
                       f"{warmup['rate_per_s']:,}/s: {shown}"
                       f"{'' if warmup['warm'] else ', still compiling when time ran out'}.")]
    profile, fixed = result.get("profile"), result.get("profile_fixed_rate")
    if profile:
        # a column for the max rate's profile, and one for the fixed rate's where it was taken
        profiles = [profile, fixed] if fixed else [profile]
        heads = ["max rate, µs/tx", "fixed rate, µs/tx"] if fixed else ["µs/tx"]
        files = ", ".join(f"`{p['file']}`" for p in profiles)
        lines += ["", (f"Where {profile['process']}'s CPU goes (py-spy, {profile['seconds']:.0f} s "
                       f"of {'each phase' if fixed else 'the max-rate phase'}, busy samples; "
                       f"{files}):"), "",
                  "| part | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(heads)]
        lines += ["| " + " | ".join([part, *(f"{p['us_per_tx'].get(part, 0.0):,.1f}"
                                           for p in profiles)]) + " |"
                  for part in profile["us_per_tx"]]
    lines += ["", f"Chart: `{result['chart']}`. Raw figures: `{result['json']}`.", ""]
    return "\n".join(lines)


def _busy(phase: dict[str, Any]) -> str:
    # The throughput window's share (runs before 2026-12-05 mid-morning had only the whole phase's, which
    # counts the idle wait for the sinks' last commits; before 2026-12-01, neither).
    share = phase.get("busy_share_throughput", phase.get("busy_share"))
    return "-" if share is None else f"{share:.0%}"


def _with_generator(result: dict[str, Any]) -> str:
    """The machine's total beside paystream's (runs before f7aa6cb counted the generator in)."""
    total = result.get("cpu_us_per_tx_with_generator")
    if total is None:
        return ""
    return (f" With the load generator (the upstream producers' stand-in, not paystream's, "
            f"which the floor does not count either): {total:,.1f} µs, "
            f"{result['floor_multiple_with_generator']:.2f}x.")


def _repeats(floor: dict[str, Any], part: str) -> str:
    """A floor part's measurements, when it was measured more than once (loadtest/floor.py: the
    lowest is the part; runs before 2026-12-08 took PostgreSQL's median)."""
    repeats = floor.get(f"{part}_us_per_tx_repeats") or []
    if len(repeats) < 2:
        return ""
    low = floor["us_per_tx"][part] == min(repeats)
    said = (f"; the {'lowest' if low else 'median'} of {len(repeats)} measurements: "
            f"{', '.join(f'{r:,.1f}' for r in repeats)}")
    probe = floor.get("postgres_speed_probe_us") if part == "postgres" else None
    return said + (f"; the machine's speed probe around them {probe:,.1f} µs" if probe else "")


def _ms(value: float) -> str:
    if math.isnan(value):  # no decisions in the phase
        return "-"
    return f"{value / 1000:,.2f} s" if value >= 10_000 else f"{value:,.0f} ms"
