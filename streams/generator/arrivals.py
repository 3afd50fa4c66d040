"""When the next everyday transaction happens, and whose it is.

A Poisson process whose rate follows the day in every timezone: at each UTC hour the rate is the
sum, over groups of accounts sharing a UTC offset, of the group's share of activity times
HOUR_PROFILE at its local hour. Averaged over a day it is exactly accounts *
tx_per_account_per_day / 86400 per second. Drawn in numpy batches by thinning a constant-rate
process, so the per-transaction cost is a few list reads.
"""

from __future__ import annotations

import numpy as np

from streams.generator.config import GeneratorConfig
from streams.generator.population import Population
from streams.generator.reference import HOUR_PROFILE

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: Candidates drawn per batch: large enough to amortise numpy's call overhead, small enough
#: that a generate(10) does not pay for 100k draws.
BATCH_CANDIDATES = 4096


class Arrivals:
    def __init__(self, population: Population, config: GeneratorConfig, rng: np.random.Generator) -> None:
        self._rng = rng
        self.rate_per_s_mean = config.accounts * config.tx_per_account_per_day / 86_400.0
        profile = np.array(HOUR_PROFILE) / np.mean(HOUR_PROFILE)
        offsets = np.array(population.utc_offset_h)
        groups = np.unique(offsets)
        self._members: list[np.ndarray] = []
        self._member_cum: list[np.ndarray] = []
        share = np.empty(len(groups))
        for g, offset in enumerate(groups.tolist()):
            members = np.flatnonzero(offsets == offset)
            weights = population.activity[members]
            share[g] = weights.sum()
            self._members.append(members)
            self._member_cum.append(np.cumsum(weights) / weights.sum())
        share /= share.sum()
        local_hour = (np.arange(24)[:, None] + groups[None, :]) % 24
        intensity = share[None, :] * profile[local_hour]  # (utc hour, group)
        rate_by_hour = self.rate_per_s_mean * intensity.sum(axis=1)
        self._rate_per_ms_by_hour = (rate_by_hour / 1000.0).tolist()
        self._rate_max = float(rate_by_hour.max())
        self._accept = rate_by_hour / self._rate_max
        self._group_cum = np.cumsum(intensity, axis=1) / intensity.sum(axis=1, keepdims=True)
        self._clock_ms = float(config.start_ms)

    def time_to_cover_ms(self, arrivals: float, from_ms: int, backwards: bool) -> int:
        """How long the expected number of arrivals takes, going forwards or backwards from_ms.

        Walks hour by hour to a day boundary, skips whole days (each holds the daily mean), and
        walks the rest hour by hour: at most ~50 steps however long the span.
        """
        rates, day_arrivals = self._rate_per_ms_by_hour, self.rate_per_s_mean * 86_400.0
        t, left = float(from_ms), arrivals
        for _ in range(2):  # to the next day boundary, then what remains after whole days
            for _ in range(25):
                hour = int(((t - 1) if backwards else t) // HOUR_MS) % 24
                boundary = ((t - 1) // HOUR_MS) * HOUR_MS if backwards else (t // HOUR_MS + 1) * HOUR_MS
                chunk = abs(boundary - t) * rates[hour]
                if left <= chunk:
                    t += (-left if backwards else left) / rates[hour]
                    return int(abs(t - from_ms))
                left -= chunk
                t = boundary
                if t % DAY_MS == 0:
                    break
            days = int(left // day_arrivals)
            left -= days * day_arrivals
            t += (-days if backwards else days) * DAY_MS
        return int(abs(t - from_ms))

    def next_batch(self) -> tuple[list[int], list[int]]:
        """Event times (epoch ms, non-decreasing, after every earlier batch) and account indices."""
        rng = self._rng
        candidates = self._clock_ms + np.cumsum(rng.exponential(1000.0 / self._rate_max, BATCH_CANDIDATES))
        self._clock_ms = float(candidates[-1])
        times = candidates.astype(np.int64)
        hours = (times // HOUR_MS) % 24
        kept = rng.random(BATCH_CANDIDATES) < self._accept[hours]
        times, hours = times[kept], hours[kept]
        group_cum = self._group_cum[hours]
        groups = (rng.random(len(times))[:, None] >= group_cum).sum(axis=1)
        groups = np.minimum(groups, group_cum.shape[1] - 1)  # cum's last column may round below 1
        picks = rng.random(len(times))
        accounts = np.empty(len(times), dtype=np.int64)
        for g, members in enumerate(self._members):
            chosen = groups == g
            index = np.searchsorted(self._member_cum[g], picks[chosen], side="right")
            accounts[chosen] = members[np.minimum(index, len(members) - 1)]
        return times.tolist(), accounts.tolist()
