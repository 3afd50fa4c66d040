"""Per-account velocity in O(1) state: exponentially decayed counts and sums.

A decayed count over a window W is c <- c * exp(-dt / W) + 1 at each transaction: recent
transactions weigh ~1, ones a few W ago ~0. One float per (window, measure) instead of a list of
timestamps per window: the state stays the same size however active the account is.
"""

from __future__ import annotations

import math

WINDOWS_MS = (60_000, 3_600_000, 86_400_000)  # 1 min, 1 h, 24 h
#: layout: [last_ms, count_1m, count_1h, count_24h, sum_1m, sum_1h, sum_24h]
SIZE = 1 + 2 * len(WINDOWS_MS)


def decayed(velocity: list[float], now_ms: int) -> list[float]:
    """The counters as of `now_ms` (without adding a transaction)."""
    if not velocity:
        return [float(now_ms)] + [0.0] * (SIZE - 1)
    last_ms = velocity[0]
    dt = max(0.0, now_ms - last_ms)
    n = len(WINDOWS_MS)
    factors = [math.exp(-dt / w) for w in WINDOWS_MS]
    counts = [velocity[1 + i] * factors[i] for i in range(n)]
    sums = [velocity[1 + n + i] * factors[i] for i in range(n)]
    return [float(max(now_ms, last_ms))] + counts + sums


def observe(velocity: list[float], now_ms: int, amount: int) -> list[float]:
    """Counters after one more transaction of `amount` at `now_ms`."""
    state = decayed(velocity, now_ms)
    n = len(WINDOWS_MS)
    for i in range(n):
        state[1 + i] += 1.0
        state[1 + n + i] += amount
    return state


def count_1m(velocity: list[float]) -> float:
    return velocity[1] if velocity else 0.0


def count_1h(velocity: list[float]) -> float:
    return velocity[2] if velocity else 0.0
