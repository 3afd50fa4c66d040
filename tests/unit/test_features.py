"""Every fraud feature on hand-built sequences, against values worked out by hand."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from agents.fraud.fanin import FAN_IN_CAP, FanInMemory, Payment, Seen, fan_in
from agents.fraud.features import (
    DEVICE_SLOTS,
    EW_ALPHA_MIN,
    FEATURES,
    INDEX,
    NO_HISTORY_S,
    PROFILE_BYTES,
    VAR_FLOOR,
    extract,
)
from agents.fraud.labelrisk import FEATURES as LABEL_FEATURES
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.records import Channel, Transaction, TransactionType

T0 = 1_767_258_000  # 2026-01-01T09:00:00Z: 10:00 in Germany (winter, UTC+1)
_ids = iter(range(10**9))


def tx(at_s: float, amount: int = 1_000, **changes: object) -> Transaction:
    base = Transaction(tx_id=f"t{next(_ids)}", type=TransactionType.TRANSFER,
                       source_account="acc-1", destination_account="acc-2", amount=amount,
                       currency="EUR", event_time=int((T0 + at_s) * 1000), channel=Channel.MOBILE,
                       country="DE", device_id="phone-1")
    return msgspec.structs.replace(base, **changes)


class Payer:
    """Feeds transactions through extract() one batch at a time, keeping the profiles."""

    def __init__(self) -> None:
        self.profiles: dict[str, bytes] = {}

    def run(self, *txs: Transaction, fans: list[float] | None = None) -> list[dict[str, float]]:
        fan = np.asarray(fans if fans is not None else [1.0] * len(txs), dtype=np.float32)
        rows, profiles = extract(list(txs), self.profiles, fan)
        self.profiles.update(profiles)
        return [dict(zip(FEATURES, map(float, row), strict=True)) for row in rows]

    def one(self, t: Transaction) -> dict[str, float]:
        return self.run(t)[0]


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-5, abs=1e-6)  # rows are float32


def test_a_first_transaction_has_no_history() -> None:
    f = Payer().one(tx(0, amount=2_500))
    assert f["log_amount"] == approx(math.log(2_500))
    assert f["amount_z"] == 0.0 and f["amount_vs_mean"] == 0.0
    assert (f["count_1m"], f["count_1h"], f["count_24h"]) == (1.0, 1.0, 1.0)
    assert (f["sum_1m_vs_mean"], f["sum_1h_vs_mean"], f["sum_24h_vs_mean"]) == (1.0, 1.0, 1.0)
    assert f["log_seconds_since_last"] == approx(math.log1p(NO_HISTORY_S))
    assert (f["new_device"], f["new_country"], f["new_payee"]) == (1.0, 1.0, 1.0)
    assert (f["distinct_devices_24h"], f["distinct_countries_24h"], f["distinct_payees_24h"]) == (1, 1, 1)
    assert f["abroad"] == 0.0 and f["log_history"] == 0.0 and f["night_home"] == 0.0
    assert f["has_device"] == 1.0


def test_a_burst_raises_the_decayed_counts_and_sums() -> None:
    payer = Payer()
    rows = payer.run(tx(0), tx(30), tx(60))  # one batch: three rounds of one account
    c1m = [1.0, 1 * math.exp(-30 / 60) + 1]
    c1m.append(c1m[1] * math.exp(-30 / 60) + 1)
    c1h = [1.0, math.exp(-30 / 3600) + 1]
    c1h.append(c1h[1] * math.exp(-30 / 3600) + 1)
    for i, row in enumerate(rows):
        assert row["count_1m"] == approx(c1m[i])
        assert row["count_1h"] == approx(c1h[i])
        # Same amount every time: the running mean is that amount, so sums / mean = counts.
        assert row["sum_1m_vs_mean"] == approx(c1m[i])
    assert rows[2]["log_seconds_since_last"] == approx(math.log1p(30))
    assert rows[2]["log_history"] == approx(math.log1p(2))
    later = payer.one(tx(60 + 3600))  # an hour later the minute count is back near 1
    assert later["count_1m"] == approx(c1m[2] * math.exp(-3600 / 60) + 1)
    assert later["count_24h"] == approx((((1 * math.exp(-30 / 86400) + 1) * math.exp(-30 / 86400)) + 1)
                                        * math.exp(-3600 / 86400) + 1)


def test_amount_against_the_accounts_own_mean_and_spread() -> None:
    payer = Payer()
    payer.run(tx(0, amount=100), tx(10, amount=200))
    # After 100 then 200: mean = log 100 + 0.5 * log 2, var = 0.5 * (0 + 0.5 * log(2)^2).
    mean = math.log(100) + 0.5 * math.log(2)
    var = 0.5 * (0.5 * math.log(2) ** 2)
    f = payer.one(tx(20, amount=1_000))
    deviation = math.log(1_000) - mean
    assert f["amount_vs_mean"] == approx(deviation)
    assert f["amount_z"] == approx(deviation / math.sqrt(var + VAR_FLOOR))
    assert f["sum_1m_vs_mean"] == approx(
        ((100 * math.exp(-10 / 60) + 200) * math.exp(-10 / 60) + 1_000) / math.exp(mean))
    assert EW_ALPHA_MIN < 1 / 3  # the third amount still weighs 1/3


def test_a_new_device_then_a_known_one_then_none() -> None:
    payer = Payer()
    rows = payer.run(tx(0, device_id="a"), tx(10, device_id="a"), tx(20, device_id="b"),
                     tx(30, device_id=None))
    assert [r["new_device"] for r in rows] == [1.0, 0.0, 1.0, 0.0]
    assert [r["distinct_devices_24h"] for r in rows] == [1.0, 1.0, 2.0, 2.0]
    assert [r["has_device"] for r in rows] == [1.0, 1.0, 1.0, 0.0]
    # Two days later "a" is still known, but no longer among the last 24 hours' devices.
    f = payer.one(tx(2 * 86_400, device_id="a"))
    assert (f["new_device"], f["distinct_devices_24h"]) == (0.0, 1.0)


def test_the_device_set_forgets_the_least_recently_used() -> None:
    payer = Payer()
    payer.run(*[tx(i, device_id=f"d{i}") for i in range(DEVICE_SLOTS + 1)])
    assert payer.one(tx(100, device_id="d0"))["new_device"] == 1.0  # evicted by d6
    assert payer.one(tx(101, device_id="d6"))["new_device"] == 0.0


def test_countries_home_abroad_and_night_in_the_home_time_zone() -> None:
    payer = Payer()
    home = payer.run(tx(0), tx(60), tx(120))  # Germany, 10:00 local
    assert [r["new_country"] for r in home] == [1.0, 0.0, 0.0]
    abroad = payer.one(tx(180, country="FR"))
    assert (abroad["new_country"], abroad["abroad"], abroad["distinct_countries_24h"]) == (1.0, 1.0, 2.0)
    # 23:30 UTC is 00:30 in Germany: night at home, wherever the payer is.
    late = payer.one(tx(14.5 * 3600, country="FR"))
    assert (late["night_home"], late["abroad"], late["new_country"]) == (1.0, 1.0, 0.0)
    morning = payer.one(tx(21 * 3600))  # 06:00 UTC = 07:00 in Germany
    assert (morning["night_home"], morning["abroad"]) == (0.0, 0.0)


def test_the_home_country_is_the_most_used_one() -> None:
    payer = Payer()
    payer.run(tx(0, country="US"), tx(10), tx(20), tx(30))  # first in the US, then Germany x3
    f = payer.one(tx(17 * 3600, country="US"))  # 02:00 UTC: 03:00 in Germany, 21:00 in New York
    assert (f["abroad"], f["night_home"]) == (1.0, 1.0)


def test_payees_new_and_distinct() -> None:
    rows = Payer().run(tx(0, destination_account="p1"), tx(10, destination_account="p2"),
                       tx(20, destination_account="p1"))
    assert [r["new_payee"] for r in rows] == [1.0, 1.0, 0.0]
    assert [r["distinct_payees_24h"] for r in rows] == [1.0, 2.0, 2.0]


def test_type_and_channel_are_one_hot() -> None:
    rows = Payer().run(
        tx(0, type=TransactionType.PAYMENT, channel=Channel.WEB, merchant_id="m1"),
        tx(10, type=TransactionType.WITHDRAWAL, channel=Channel.ATM),
        tx(20, channel=Channel.BRANCH))
    names = ("is_transfer", "is_payment", "is_withdrawal", "channel_web", "channel_mobile",
             "channel_pos", "channel_atm", "channel_api")
    assert [[r[n] for n in names] for r in rows] == [
        [0, 1, 0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0, 0, 0]]


def test_fan_in_counts_distinct_payers_in_order_within_a_batch() -> None:
    t = 1_000_000_000_000
    batch = [Payment("mule", "a", t), Payment("mule", "b", t + 1), Payment("shop", "a", t + 2),
             Payment("mule", "a", t + 3), Payment("mule", "c", t + 4)]
    nothing = [Seen(0, -1)] * len(batch)
    assert fan_in(batch, nothing).tolist() == [1, 2, 1, 2, 3]


def test_fan_in_across_batches_and_the_24_hour_window() -> None:
    store, t, day = FanInMemory(), 1_000_000_000_000, 86_400_000
    first = [Payment("mule", p, t + i) for i, p in enumerate("abc")]
    store.apply(first)
    second = [Payment("mule", "d", t + 10), Payment("mule", "a", t + 11)]
    assert fan_in(second, store.lookup(second)).tolist() == [4, 4]  # a is already counted
    store.apply(second)
    late = [Payment("mule", "e", t + day + 5)]  # a, b, c are older than 24 h by then; d is not
    assert store.lookup(late) == [Seen(2, -1)]  # d at t+10 and a again at t+11
    assert fan_in(late, store.lookup(late)).tolist() == [3]


def test_fan_in_is_capped() -> None:
    store, t = FanInMemory(), 1_000_000_000_000
    store.apply(Payment("shop", f"p{i}", t + i) for i in range(FAN_IN_CAP + 10))
    probe = [Payment("shop", "new", t + 100)]
    assert fan_in(probe, store.lookup(probe)).tolist() == [FAN_IN_CAP]


def test_fan_in_reaches_the_features() -> None:
    rows = Payer().run(tx(0), tx(1, source_account="acc-9"), fans=[1.0, 2.0])
    assert [r["fan_in_24h"] for r in rows] == [1.0, 2.0]


def test_the_profile_stays_the_same_size_however_busy_the_account() -> None:
    payer = Payer()
    payer.run(*[tx(i, device_id=f"d{i}", destination_account=f"p{i}", country=("DE", "FR", "US")[i % 3])
                for i in range(500)])
    assert len(payer.profiles["acc-1"]) == PROFILE_BYTES


def test_batching_does_not_change_any_feature() -> None:
    """Whole batches (vectorised rounds) compute exactly what one transaction at a time does."""
    traffic = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=5, accounts=300, fraud_share=0.05))
               .generate(3_000) if t.type is not TransactionType.DEPOSIT]
    one_by_one, batched = Payer(), Payer()
    single = np.array([list(one_by_one.one(t).values()) for t in traffic])
    whole = np.array([list(r.values()) for start in range(0, len(traffic), 700)
                      for r in batched.run(*traffic[start:start + 700])])
    assert np.array_equal(single, whole)
    assert one_by_one.profiles == batched.profiles
    assert single[:, INDEX["count_1m"]].max() > 3  # the traffic did contain bursts


def test_fan_in_counts_payers_already_seen_with_a_later_event_time() -> None:
    """A lagging partition's payment sees payers another partition has already processed."""
    store, t = FanInMemory(), 1_000_000_000_000
    store.apply([Payment("mule", "fast-1", t + 3_600_000), Payment("mule", "fast-2", t + 7_200_000)])
    slow = [Payment("mule", "slow", t)]
    assert fan_in(slow, store.lookup(slow)).tolist() == [3]


def test_a_destinations_fraud_rate_is_its_known_frauds_per_payment_week_by_week() -> None:
    from agents.fraud.labelrisk import DAY_MS, Entry, PaymentDaysMemory, features

    now = tx(0, destination_account="shop-9")
    # frauds at the shop reported by now: 3 this week, 1 last week; one more not reported yet
    risk = {"shop-9": [Entry("d", f"f{i}", f"card-{i}", now.event_time - 1, now.event_time - i * DAY_MS)
                       for i in (1, 2, 3, 9)]
            + [Entry("d", "late", "card-7", now.event_time + 1, now.event_time - DAY_MS)]}
    paid = PaymentDaysMemory()
    paid.apply([Payment("shop-9", "card-x", now.event_time - k * DAY_MS) for k in range(30)
                for _ in range(2)])  # two payments a day for 30 days
    row = dict(zip(LABEL_FEATURES, features([now], risk, paid.lookup(["shop-9"]))[0], strict=True))
    assert row["dest_fraud_7d"] == 3 and row["dest_fraud_30d"] == 4
    assert [row[f"dest_fraud_rate_week{k}"] for k in range(4)] == [approx(3 / 14), approx(1 / 14), 0, 0]
    # no known fraud, no rate, however many payments; no payments counted: 0, not a division
    rates = [LABEL_FEATURES.index(f"dest_fraud_rate_week{k}") for k in range(4)]
    assert not features([now], {"shop-9": risk["shop-9"][4:]}, paid.lookup(["shop-9"]))[0, rates].any()
    assert not features([now], risk, {})[0, rates].any()


def test_a_devices_known_frauds_count_across_the_accounts_it_paid_from() -> None:
    from agents.fraud.labelrisk import DAY_MS, Entry, device_name, entries_of_transaction, features

    now = tx(0, device_id="dev-ring")
    earlier = [tx(i, source_account=f"victim-{i}", device_id="dev-ring",
                  event_time=now.event_time - i * DAY_MS + 3_600_000) for i in (1, 3, 10, 40)]
    # each earlier fraud reported an hour after it; one more reported only after `now`
    held = [e for t in earlier for name, e in entries_of_transaction(t, t.event_time + 3_600_000)
            if name == device_name("dev-ring")]
    held.append(Entry("v", "late", "victim-9", now.event_time + 1, now.event_time - DAY_MS))
    row = dict(zip(LABEL_FEATURES, features([now], {device_name("dev-ring"): held})[0], strict=True))
    assert (row["device_fraud_1d"], row["device_fraud_7d"], row["device_fraud_30d"]) == (1, 2, 3)
    assert row["device_fraud_payers_30d"] == 3
    # the device's frauds say nothing of the payer or the destination, nor of another device
    assert row["payer_fraud_90d"] == 0 and row["dest_fraud_30d"] == 0
    other = tx(0, device_id="dev-mine")
    assert not features([other], {device_name("dev-ring"): held})[0].any()
