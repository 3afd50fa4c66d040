"""The generator's settings: one frozen value, checked once when it is built."""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.errors import ConfigError

#: 2026-01-01T00:00:00Z: a fixed default so that a bare config is reproducible.
DEFAULT_START_MS = 1_767_225_600_000

#: Below this, mule fan-in cannot find 10-40 distinct payers in one currency.
ACCOUNTS_MIN = 100
#: Per-account state lives in Python lists (~0.8 KB an account); this keeps it within ~4 GB.
ACCOUNTS_MAX = 5_000_000
#: Every country needs a few shops for travellers, and card testers need dozens of web shops.
MERCHANTS_MIN = 300


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """How much traffic, how much of it fraud, and when it happens."""

    seed: int = 1
    accounts: int = 10_000
    fraud_share: float = 0.01
    start_ms: int = DEFAULT_START_MS
    tx_per_account_per_day: float = 3.0
    #: Merchant population; 0 picks max(MERCHANTS_MIN, accounts // 20).
    merchants: int = 0
    #: Share of accounts recruited as money mules (destinations of takeovers and fan-ins).
    mule_share: float = 0.015
    #: How often an account goes abroad; trips last 2-14 days and move its traffic there.
    trips_per_account_per_year: float = 3.0

    def __post_init__(self) -> None:
        for name in ("seed", "accounts", "start_ms", "merchants"):
            value = getattr(self, name)
            _check(isinstance(value, int) and not isinstance(value, bool), name, value, "must be an int")
        for name in ("fraud_share", "tx_per_account_per_day", "mule_share", "trips_per_account_per_year"):
            value = getattr(self, name)
            _check(isinstance(value, (int, float)) and not isinstance(value, bool), name, value,
                   "must be a number")
        _check(self.seed >= 0, "seed", self.seed, "must be >= 0")
        _check(ACCOUNTS_MIN <= self.accounts <= ACCOUNTS_MAX, "accounts", self.accounts,
               f"must be in [{ACCOUNTS_MIN}, {ACCOUNTS_MAX}]")
        _check(0.0 <= self.fraud_share < 0.5, "fraud_share", self.fraud_share, "must be in [0, 0.5)")
        _check(self.start_ms >= 0, "start_ms", self.start_ms, "must be >= 0 (epoch millis)")
        _check(math.isfinite(self.tx_per_account_per_day) and self.tx_per_account_per_day > 0,
               "tx_per_account_per_day", self.tx_per_account_per_day, "must be a finite number > 0")
        _check(self.merchants == 0 or self.merchants >= MERCHANTS_MIN, "merchants", self.merchants,
               f"must be 0 (automatic) or >= {MERCHANTS_MIN}")
        _check(0.0 < self.mule_share <= 0.2, "mule_share", self.mule_share, "must be in (0, 0.2]")
        _check(0.0 <= self.trips_per_account_per_year <= 50, "trips_per_account_per_year",
               self.trips_per_account_per_year, "must be in [0, 50]")

    @property
    def merchant_count(self) -> int:
        return self.merchants or max(MERCHANTS_MIN, self.accounts // 20)


def _check(ok: bool, field: str, value: object, reason: str) -> None:
    if not ok:
        raise ConfigError(f"GeneratorConfig.{field}={value!r}: {reason}")
