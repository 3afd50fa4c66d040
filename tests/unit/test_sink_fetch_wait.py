"""How long each kind of sink lets a fetch wait at the broker (streams/settings.py)."""

from __future__ import annotations

from paystream.wiring import build_notify_runner, build_runner
from streams.partners import Partner
from streams.settings import Settings


def test_sinks_wait_long_at_the_broker_and_the_deliverer_does_not() -> None:
    # A sink caught up sends a fetch per wait: 500 ms cost an idle broker ~0.5-0.9% of a core
    # less than 100 (loadtest/results/lowfloor-2026-12-08/idle_probe.txt); a partner's event
    # waits the deliverer's wait, which stays short.
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1")
    assert (settings.sink_fetch_wait_ms, settings.notify_fetch_wait_ms) == (500, 100)
    runners = [build_runner("ledger", settings),
               build_notify_runner(Partner("p1", "http://127.0.0.1:1/h", "s",
                                           frozenset({"DEBIT"})), settings)]
    try:
        assert [r.fetch_wait_ms for r in runners] == [500, 100]
        tuned = Settings(kafka_bootstrap_servers="127.0.0.1:1", sink_fetch_wait_ms=50,
                         notify_fetch_wait_ms=20)
        runners += [build_runner("reporting", tuned),
                    build_notify_runner(Partner("p2", "http://127.0.0.1:1/h", "s",
                                                frozenset({"DEBIT"})), tuned)]
        assert [r.fetch_wait_ms for r in runners[2:]] == [50, 20]
    finally:
        for runner in runners:
            runner._consumer.close()
