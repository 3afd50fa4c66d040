"""The load generator's pacing: the offered rate is kept, in bursts rather than a wait per send."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.producer import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_sends_in_bursts_and_keeps_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("streams.producer.time.monotonic", clock.monotonic)
    pacer = Pacer(1000.0, clock.wait, burst_s=0.005)
    for sent in range(1, 1001):  # sending itself takes no time here
        pacer.pace(sent)
    # one wait per ~6 sends (a burst is 5 ms of a 1,000/s rate), not one per send
    assert 150 <= len(clock.waits) <= 170
    # and the 1,000 sends took one second: the rate offered is the rate asked for
    assert clock.now - 100.0 == pytest.approx(1.0, abs=0.006)


def test_unpaced_never_waits() -> None:
    waits: list[float] = []
    pacer = Pacer(None, waits.append)
    for sent in range(1, 1000):
        pacer.pace(sent)
    assert waits == []


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="rate must be > 0"):
        Pacer(0.0, lambda _s: None)
