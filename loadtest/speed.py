"""How fast the machine runs right now: the CPU time of one fixed piece of work.

Machines of this kind drift by 1.5x and more within minutes (another tenant on the host, a
sibling hyperthread), and a phase's CPU per transaction moves with it: every process's figure
rises together, with no more work done. A phase that missed its latency target because the
machine slowed is told apart from one that did more work by sampling this beside the CPU
meter: the same work's CPU time rises when the core runs slower, not when the probe waits for
it (it is counted by `thread_time`, which stops while the thread is not running).
"""

from __future__ import annotations

import statistics
import time

#: Iterations of the work: ~1 ms of CPU on the 2-vCPU AMD EPYC of 2026-12-06.
WORK = 6_000


def _work(n: int) -> int:
    # Dict and integer work, the kind the pipeline's Python does; nothing the CPU can skip.
    table: dict[int, int] = {}
    total = 0
    for i in range(n):
        table[i & 255] = table.get(i & 255, 0) + i
        total += table.get((i * 7) & 255, 0)
    return total


def probe_us(repeats: int = 3) -> float:
    """CPU µs the work took, the best of `repeats` (an interrupt inflates one run, not all)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        _work(WORK)
        best = min(best, time.thread_time() - started)
    return best * 1e6


def slowdown(samples: list[float], reference: list[float]) -> float | None:
    """How much longer the work took in `samples` than in `reference`, as the ratio of their
    medians (1.0: the same speed; 1.5: the machine ran at two thirds of it). None without both."""
    if not samples or not reference:
        return None
    return round(statistics.median(samples) / statistics.median(reference), 2)
