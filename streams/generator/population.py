"""Who exists: customer accounts and merchants, drawn once from the seed with numpy.

Profiles are built as numpy arrays and kept as Python lists, because the per-transaction code
reads single elements and list indexing is several times cheaper than numpy scalar indexing.
Per-account details that are rarely needed (device ids, usual payees, favourite shops) are not
stored: they are derived on demand from a per-account 64-bit key. Memory is ~0.8 KB an account.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from streams.generator.config import GeneratorConfig
from streams.generator.reference import (
    ATM_UNITS,
    CATEGORIES,
    COUNTRIES,
    COUNTRY_INDEX,
    ONLINE_HUBS,
    PRICE_LEVEL,
)

DAY_MS = 86_400_000
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX = 0xBF58476D1CE4E5B9

_PERIOD_MS = {days: days * DAY_MS for days in (7, 14, 30)}
#: Pareto shape of account activity: the top 1% of accounts make ~15% of the transactions.
ACTIVITY_PARETO_SHAPE = 1.5
#: ...capped, so the busiest account is a busy shop owner (~75 a day), not a bot.
ACTIVITY_CAP_X_MEDIAN = 40.0


def derive(key: int, salt: int) -> int:
    """48 well-mixed bits from an account key and a salt: stable ids without storing them."""
    return ((((key + salt * _GOLDEN) & _MASK64) * _MIX) & _MASK64) >> 16


@dataclass(slots=True)
class Population:
    """Customer accounts, index i is `acc-{i+1:08d}`. Lists are read-only after build."""

    size: int
    ids: list[str]
    country: list[int]  # index into COUNTRIES
    currency: list[str]
    price: list[float]  # PRICE_LEVEL of the currency
    utc_offset_h: list[int]
    activity: np.ndarray  # relative rate of transactions, heavy-tailed
    mu_payment: list[float]  # log of the median payment, minor units
    sigma_payment: list[float]
    mu_transfer: list[float]
    sigma_transfer: list[float]
    p_transfer: list[float]
    p_withdrawal: list[float]
    channel_profile: list[int]  # see legit.CHANNEL_PROFILES
    n_devices: list[int]
    n_payees: list[int]
    n_favourites: list[int]
    salary: list[int]  # minor units, a bit above what the account spends in one period
    salary_period_ms: list[int]
    opening_deposit: list[int]
    first_trip_ms: list[int]
    is_mule: list[bool]
    key: list[int]
    #: Non-mule account indices per country and per currency: where payees come from.
    by_country: list[list[int]]
    by_currency: dict[str, list[int]]
    #: Mule account indices per currency.
    mules: dict[str, list[int]]

    def device_id(self, i: int, slot: int, generation: int) -> str:
        # Slot 0 is the phone; a new generation means the customer replaced it.
        salt = 1000 + slot if slot else 2000 + generation
        return f"dev-{derive(self.key[i], salt):012x}"

    def home_ip(self, i: int, which: int) -> str:
        """One of the account's two home/office addresses."""
        return random_ip(self.country[i], derive(self.key[i], 500 + which))

    def payee(self, i: int, k: int) -> int:
        """The account's k-th usual payee: mostly in its own country, always its own currency.

        Returns i itself when nobody else shares the currency (the caller pays a shop instead).
        """
        bits = derive(self.key[i], 300 + k)
        pool = self.by_country[self.country[i]] if bits & 7 < 5 else self.by_currency[self.currency[i]]
        if len(pool) < 2:
            pool = self.by_currency[self.currency[i]]
        if len(pool) < 2:
            return i
        j = pool[(bits >> 3) % len(pool)]
        return j if j != i else pool[((bits >> 3) + 1) % len(pool)]


@dataclass(slots=True)
class Merchants:
    """Shops with a fixed category and country. Destination account = merchant id."""

    ids: list[str]
    mcc: list[str]
    amount_factor: list[float]
    country: list[int]
    #: Physical shops per country, with cumulative popularity for bisect.
    physical: list[list[int]]
    physical_cum: list[list[float]]
    online: list[int]
    online_cum: list[float]
    #: Online shops with small tickets (digital goods, food, rides): where stolen cards get tested.
    online_small: list[int]

    def popular_physical(self, country: int, u: float) -> int:
        shops = self.physical[country]
        return shops[min(bisect_right(self.physical_cum[country], u), len(shops) - 1)]

    def popular_online(self, u: float) -> int:
        return self.online[min(bisect_right(self.online_cum, u), len(self.online) - 1)]


def random_ip(country: int, bits: int) -> str:
    """An address in the country's blocks from 32 random bits."""
    octets = COUNTRIES[country].ip_octets
    return f"{octets[bits & 1]}.{(bits >> 8) & 255}.{(bits >> 16) & 255}.{1 + (bits >> 24) % 254}"


def build_population(config: GeneratorConfig, rng: np.random.Generator) -> Population:
    n = config.accounts
    homes = [c for c, country in enumerate(COUNTRIES) if country.home_weight > 0]
    home_p = np.array([COUNTRIES[c].home_weight for c in homes])
    country = rng.choice(np.array(homes), size=n, p=home_p / home_p.sum())
    offset = np.zeros(n, dtype=np.int64)
    for c in homes:
        members = country == c
        offset[members] = rng.choice(np.array(COUNTRIES[c].utc_offsets), size=int(members.sum()))
    currency = [COUNTRIES[c].currency for c in country.tolist()]
    price = np.array([PRICE_LEVEL[code] for code in currency])

    activity = rng.pareto(ACTIVITY_PARETO_SHAPE, n) + 1.0
    activity = np.minimum(activity, ACTIVITY_CAP_X_MEDIAN * np.median(activity))

    # Median payment ~22 EUR-equivalent, differing per person; transfers several times that.
    median_payment = np.clip(np.exp(rng.normal(math.log(22.0), 0.45, n)), 4.0, 120.0)
    mu_payment = np.log(median_payment * price * 100.0)
    sigma_payment = rng.uniform(0.5, 0.95, n)
    mu_transfer = mu_payment + rng.normal(math.log(6.0), 0.5, n)
    sigma_transfer = rng.uniform(0.6, 1.1, n)
    p_transfer = rng.uniform(0.04, 0.22, n)
    p_withdrawal = rng.uniform(0.02, 0.12, n)

    # What the account spends a day, to size its salary and opening balance.
    tx_per_day = activity / activity.mean() * config.tx_per_account_per_day
    mean_factor = sum(c.weight * c.amount_factor for c in CATEGORIES) / sum(c.weight for c in CATEGORIES)
    atm_mean_by_currency = {code: 100.0 * sum(units) / len(units) for code, units in ATM_UNITS.items()}
    atm_mean = np.array([atm_mean_by_currency[code] for code in currency])
    spend_per_tx = (
        (1.0 - p_transfer - p_withdrawal) * np.exp(mu_payment + sigma_payment**2 / 2) * mean_factor * 1.2
        + p_transfer * np.exp(mu_transfer + sigma_transfer**2 / 2)
        + p_withdrawal * atm_mean
    )
    spend_per_day = tx_per_day * spend_per_tx
    period_days = rng.choice(np.array([30, 14, 7]), size=n, p=[0.7, 0.25, 0.05])
    # Some spend a little more than they earn and live off savings and top-ups.
    salary = spend_per_day * period_days * rng.uniform(0.9, 1.35, n)
    opening = spend_per_day * rng.uniform(5.0, 40.0, n) + 5000.0 * price

    trip_gap_ms = 365.0 * DAY_MS / max(config.trips_per_account_per_year, 1e-9)
    first_trip = config.start_ms + rng.exponential(trip_gap_ms, n)
    first_trip = np.minimum(first_trip, 2.0**62)

    mule_l = _mules(config, rng, currency)
    country_l = country.tolist()
    by_country, by_currency, mules = _groups(country_l, currency, mule_l)
    return Population(
        size=n,
        ids=[f"acc-{i + 1:08d}" for i in range(n)],
        country=country_l,
        currency=currency,
        price=[PRICE_LEVEL[code] for code in currency],  # shared floats: 8 bytes an account
        utc_offset_h=offset.tolist(),
        activity=activity,
        mu_payment=mu_payment.tolist(),
        sigma_payment=sigma_payment.tolist(),
        mu_transfer=mu_transfer.tolist(),
        sigma_transfer=sigma_transfer.tolist(),
        p_transfer=p_transfer.tolist(),
        p_withdrawal=p_withdrawal.tolist(),
        channel_profile=rng.choice(3, size=n, p=[0.45, 0.35, 0.20]).tolist(),
        n_devices=rng.choice(np.array([1, 2, 3]), size=n, p=[0.4, 0.45, 0.15]).tolist(),
        n_payees=rng.integers(3, 11, n).tolist(),
        n_favourites=rng.integers(4, 16, n).tolist(),
        salary=np.maximum(salary, 100.0).astype(np.int64).tolist(),
        salary_period_ms=[_PERIOD_MS[days] for days in period_days.tolist()],
        opening_deposit=opening.astype(np.int64).tolist(),
        first_trip_ms=first_trip.astype(np.int64).tolist(),
        is_mule=mule_l,
        key=rng.integers(0, 2**62, n, dtype=np.int64).tolist(),
        by_country=by_country,
        by_currency=by_currency,
        mules=mules,
    )


def _mules(config: GeneratorConfig, rng: np.random.Generator, currency: list[str]) -> list[bool]:
    """Which accounts are mules (drawn after the rest of the population: the draws' order is
    what makes a seed's traffic the same every time)."""
    is_mule = rng.random(len(currency)) < config.mule_share
    currency_array = np.array(currency)
    for code in sorted(set(currency)):
        # Every currency with a few customers has at least one mule, so every victim can be drained.
        members = np.flatnonzero(currency_array == code)
        if len(members) >= 3 and not is_mule[members].any():
            is_mule[rng.choice(members)] = True
    return is_mule.tolist()


def _groups(country: list[int], currency: list[str], mule: list[bool]
            ) -> tuple[list[list[int]], dict[str, list[int]], dict[str, list[int]]]:
    """Customers by country and by currency, and the mules by currency."""
    by_country: list[list[int]] = [[] for _ in COUNTRIES]
    by_currency: dict[str, list[int]] = {code: [] for code in sorted(set(currency))}
    mules: dict[str, list[int]] = {code: [] for code in sorted(set(currency))}
    for i in range(len(currency)):
        if mule[i]:
            mules[currency[i]].append(i)
        else:
            by_country[country[i]].append(i)
            by_currency[currency[i]].append(i)
    return by_country, by_currency, mules


#: Physical shops every country gets, so that travellers always find somewhere to pay.
_SHOPS_PER_COUNTRY_MIN = 8
_SMALL_WEB_SHOPS_MIN = 40


def build_merchants(config: GeneratorConfig, rng: np.random.Generator) -> Merchants:
    m = config.merchant_count
    cat_p = np.array([c.weight for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), size=m, p=cat_p / cat_p.sum())
    online = rng.random(m) < np.array([c.online_share for c in CATEGORIES])[category]
    # The first shops cover every country; the rest follow where customers live and travel.
    home_p = np.array([c.home_weight * 3.0 + c.travel_weight for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), size=m, p=home_p / home_p.sum())
    seeded = len(COUNTRIES) * _SHOPS_PER_COUNTRY_MIN
    country[:seeded] = np.repeat(np.arange(len(COUNTRIES)), _SHOPS_PER_COUNTRY_MIN)
    online[:seeded] = False
    # ...and enough small-ticket web shops that a card tester finds 30 different ones.
    small = np.flatnonzero(np.array([c.amount_factor <= 1.0 and c.online_share > 0 for c in CATEGORIES]))
    web = slice(seeded, seeded + _SMALL_WEB_SHOPS_MIN)
    online[web] = True
    category[web] = rng.choice(small, size=_SMALL_WEB_SHOPS_MIN)
    hubs = np.array([COUNTRY_INDEX[code] for code in ONLINE_HUBS])
    hub_sellers = online & (rng.random(m) < 0.4)
    country[hub_sellers] = rng.choice(hubs, size=int(hub_sellers.sum()))
    popularity = rng.pareto(1.2, m) + 1.0

    physical: list[list[int]] = []
    physical_cum: list[list[float]] = []
    for c in range(len(COUNTRIES)):
        shops = np.flatnonzero((country == c) & ~online)
        physical.append(shops.tolist())
        physical_cum.append(_cumulative(popularity[shops]))
    online_shops = np.flatnonzero(online)
    return Merchants(
        ids=[f"mer-{j + 1:06d}" for j in range(m)],
        mcc=[CATEGORIES[k].mcc for k in category.tolist()],
        amount_factor=[CATEGORIES[k].amount_factor for k in category.tolist()],
        country=country.tolist(),
        physical=physical,
        physical_cum=physical_cum,
        online=online_shops.tolist(),
        online_cum=_cumulative(popularity[online_shops]),
        online_small=[j for j in online_shops.tolist() if CATEGORIES[category[j]].amount_factor <= 1.0],
    )


def _cumulative(weights: np.ndarray) -> list[float]:
    cum = np.cumsum(weights)
    result: list[float] = (cum / cum[-1]).tolist()
    return result
