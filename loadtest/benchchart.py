"""The benchmark's chart: throughput over time and produce-to-decision latency percentiles."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a file, never a window: benchmarks run headless

import matplotlib.pyplot as plt  # after choosing the backend
import numpy as np

from loadtest.benchstats import Decisions, latency_by_second, per_second


def draw(path: Path, title: str, decisions: Decisions, origin_ms: int,
         sink_rows_ms: dict[str, np.ndarray], phase_starts_ms: dict[str, int],
         cores: dict[str, np.ndarray] | None = None) -> None:
    """Panels sharing the time axis (seconds since the first produce): rates, latency and,
    when given, each process's CPU in cores (stacked: the top edge is the machine's load)."""
    fig, axes = plt.subplots(3 if cores else 2, 1, figsize=(11, 10 if cores else 7), sharex=True)
    rate, latency = axes[0], axes[1]
    if cores:
        _draw_cores(axes[2], cores)
    series = {"produced": per_second(decisions.produced_ms, origin_ms),
              "decided": per_second(decisions.decided_ms, origin_ms)}
    series |= {f"{name} rows": per_second(times, origin_ms)
               for name, times in sink_rows_ms.items()}
    for label, counts in series.items():
        rate.plot(np.arange(len(counts)), counts, label=label, linewidth=1)
    rate.set_ylabel("per second")
    rate.legend(loc="upper right", fontsize=8)
    rate.grid(alpha=0.3)
    for p, values in latency_by_second(decisions, origin_ms, (50, 99)).items():
        latency.plot(np.arange(len(values)), values / 1000, label=f"p{p}", linewidth=1)
    latency.set_yscale("log")
    latency.set_ylabel("produce → decision (s)")
    axes[-1].set_xlabel("seconds since the first produce")
    latency.legend(loc="upper right", fontsize=8)
    latency.grid(alpha=0.3, which="both")
    for name, start_ms in phase_starts_ms.items():
        for axis in axes:
            axis.axvline((start_ms - origin_ms) / 1000, color="grey", linestyle="--", linewidth=0.8)
        rate.annotate(name, ((start_ms - origin_ms) / 1000, 0), xytext=(3, 3),
                      textcoords="offset points", fontsize=8, color="grey")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _draw_cores(axis: plt.Axes, cores: dict[str, np.ndarray]) -> None:
    names = sorted(cores, key=lambda n: -float(cores[n].sum()))
    length = max(len(series) for series in cores.values())
    stacked = [np.pad(cores[n], (0, length - len(cores[n]))) for n in names]
    axis.stackplot(np.arange(length), stacked, labels=names, linewidth=0)
    axis.set_ylabel("CPU (cores)")
    axis.legend(loc="upper right", fontsize=7, ncol=2)
    axis.grid(alpha=0.3)
