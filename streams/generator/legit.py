"""Everyday behaviour: what a customer does when the arrival process says it is their turn.

Deliberately noisy where fraud is loud: people travel, replace phones, pay new payees, make the
odd big purchase and tap several small payments in a row, so no single signal means fraud.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

from streams.generator.population import DAY_MS, Merchants, Population, derive, random_ip
from streams.generator.reference import ATM_UNITS, COUNTRIES
from streams.generator.state import AccountState
from streams.records import Channel, TransactionType

#: A transaction before it has an id and a time. Tuples, because one is built per transaction:
#: (type, src index, dst index, source_account, destination_account, amount, currency, channel,
#:  country, merchant_id, merchant_category, device_id, ip, auth_method); index -1 = not a customer.
#: A scheduled draft's amount may be negative: drain -amount / DRAIN_SCALE of the source's
#: balance as it stands when the transaction goes out.
Draft = tuple[
    TransactionType, int, int, str, str, int, str, Channel, str, str | None, str | None, str | None, str | None,
    str | None,
]
DRAIN_SCALE = 1_000_000
#: Puts a draft on the timeline at a later time; the engine emits it when the clock gets there.
Schedule = Callable[[int, Draft, str], None]

PAYMENT, TRANSFER = TransactionType.PAYMENT, TransactionType.TRANSFER
DEPOSIT, WITHDRAWAL = TransactionType.DEPOSIT, TransactionType.WITHDRAWAL
POS, MOBILE, WEB, API, ATM, BRANCH = Channel.POS, Channel.MOBILE, Channel.WEB, Channel.API, Channel.ATM, Channel.BRANCH

#: Payment channel by profile, cumulative (POS, then MOBILE, the rest WEB): mobile-first,
#: card-first, web shopper.
CHANNEL_PROFILES = ((0.35, 0.80), (0.65, 0.80), (0.35, 0.50))
TRANSFER_MOBILE_SHARE = (0.85, 0.50, 0.30)
API_SHARE_OF_WEB_PAYMENTS = 0.045  # merchant-initiated charges, subscriptions
TOP_UP_SHARE = 0.01
FAVOURITE_SHOP_SHARE = 0.75
NEW_PAYEE_SHARE = 0.05
NEW_PHONE_SHARE = 0.001  # per mobile transaction; the new phone then stays
ODD_DEVICE_SHARE = 0.002  # a one-off browser or borrowed laptop
BIG_PURCHASE_SHARE = 0.015
SHORT_OF_FUNDS_ATTEMPT_SHARE = 0.05  # tries to spend more than the balance anyway
BURST_SHARE = 0.01  # per digital payment at home: a few more small ones follow within minutes
TRIP_DAYS_MIN, TRIP_DAYS_MAX = 2.0, 14.0
#: Extra legit transactions per arrival that bursts add; lets the engine estimate time spans.
BURST_EXTRA_PER_ARRIVAL = 0.016


_DESTINATIONS = [c for c, country in enumerate(COUNTRIES) if country.travel_weight > 0]
_DESTINATIONS_CUM = list(itertools.accumulate(COUNTRIES[c].travel_weight for c in _DESTINATIONS))


def foreign_country(home: int, rnd: random.Random) -> int:
    """A country index other than home (-1: any), by how often people travel there."""
    for _ in range(8):  # bounded: no home country draws more than 10% of trips
        c = rnd.choices(_DESTINATIONS, cum_weights=_DESTINATIONS_CUM)[0]
        if c != home:
            return c
    return _DESTINATIONS[(_DESTINATIONS.index(home) + 1) % len(_DESTINATIONS)]


def auth_method(channel: Channel, units: float, r: float) -> str | None:
    """How the payer authenticated, given the channel and amount (in currency units).

    Fraud uses this too, so auth_method carries exactly the signal it carries in real life
    (e.g. low-value exemptions) and nothing that tells the label.
    """
    if r < 0.03:
        return None  # the producer did not say
    if channel is POS:
        if units < 50.0:
            return "NONE" if r < 0.63 else "PIN" if r < 0.88 else "BIOMETRIC"
        return "PIN" if r < 0.83 else "BIOMETRIC"
    if channel is WEB:
        if units < 30.0:
            return "NONE" if r < 0.5 else "THREE_DS" if r < 0.9 else "PASSWORD"
        return "NONE" if r < 0.1 else "THREE_DS" if r < 0.85 else "PASSWORD"
    if channel is MOBILE:
        return "BIOMETRIC" if r < 0.6 else "PASSWORD" if r < 0.85 else "THREE_DS"
    if channel is API:
        return "NONE" if r < 0.7 else "PASSWORD"
    if channel is ATM:
        return "PIN"
    return "PIN" if r < 0.7 else None


class LegitTraffic:
    def __init__(
        self,
        population: Population,
        merchants: Merchants,
        state: AccountState,
        rnd: random.Random,
        schedule: Schedule,
        trips_per_year: float,
    ) -> None:
        self._pop = population
        self._shops = merchants
        self._state = state
        self._random = rnd.random
        self._rnd = rnd
        self._schedule = schedule
        self._trip_gap_ms = 365.0 * DAY_MS / trips_per_year if trips_per_year > 0 else math.inf
        self._settlement = {code: f"sys:settlement:{code}" for code in set(population.currency)}
        self._home_ips: dict[int, tuple[str, str]] = {}

    def next(self, i: int, t: int) -> Draft:
        """Account i's next transaction at time t."""
        state = self._state
        if not state.funded[i]:
            return self._deposit(i, self._pop.opening_deposit[i], opening=True, t=t)
        if t >= state.next_salary_ms[i]:
            return self._deposit(i, self._pop.salary[i], opening=False, t=t)
        abroad = self._abroad(i, t)
        r = self._random()
        p_transfer = self._pop.p_transfer[i]
        if r < p_transfer:
            return self._transfer(i, t, abroad)
        if r < p_transfer + self._pop.p_withdrawal[i]:
            return self._withdrawal(i, abroad)
        if r >= 1.0 - TOP_UP_SHARE:
            return self._deposit(i, self._pop.salary[i] // 3, opening=False, t=-1)
        return self._payment(i, t, abroad)

    def _deposit(self, i: int, amount: int, opening: bool, t: int) -> Draft:
        """Opening balance, salary (t >= 0 moves the next payday on) or a top-up (t = -1)."""
        pop, state = self._pop, self._state
        if opening:
            state.mark_funded(i, pop.currency[i])
            state.next_salary_ms[i] = t + int(self._random() * pop.salary_period_ms[i])
        elif t >= 0:
            period = pop.salary_period_ms[i]
            state.next_salary_ms[i] += period * (1 + (t - state.next_salary_ms[i]) // period)
        currency = pop.currency[i]
        channel = API if self._random() < 0.9 else BRANCH
        return (DEPOSIT, -1, i, self._settlement[currency], pop.ids[i], amount, currency, channel,
                COUNTRIES[pop.country[i]].code, None, None, None, None, None)

    def _abroad(self, i: int, t: int) -> int:
        """The country the account is travelling in at t, or -1 at home."""
        state = self._state
        if t < state.trip_until_ms[i]:
            return state.trip_country[i]
        if t < state.next_trip_ms[i]:
            return -1
        destination = foreign_country(self._pop.country[i], self._rnd)
        until = t + int(self._rnd.uniform(TRIP_DAYS_MIN, TRIP_DAYS_MAX) * DAY_MS)
        state.trip_country[i] = destination
        state.trip_until_ms[i] = until
        state.next_trip_ms[i] = until + int(self._rnd.expovariate(1.0 / self._trip_gap_ms))
        return destination

    def _payment(self, i: int, t: int, abroad: int) -> Draft:
        pop, shops, rand = self._pop, self._shops, self._random
        home = pop.country[i]
        r = rand()
        if abroad >= 0:
            channel = POS if r < 0.75 else MOBILE if r < 0.9 else WEB
        else:
            profile = CHANNEL_PROFILES[pop.channel_profile[i]]
            channel = POS if r < profile[0] else MOBILE if r < profile[1] else WEB
            if channel is WEB and rand() < API_SHARE_OF_WEB_PAYMENTS:
                channel = API
        favourite = abroad < 0 and rand() < FAVOURITE_SHOP_SHARE
        if favourite:
            k = int(pop.n_favourites[i] * rand() ** 2)  # a few shops get most visits
            u = derive(pop.key[i], 200 + k) / 2.0**48
        else:
            u = rand()
        if channel is POS:
            shop = shops.popular_physical(abroad if abroad >= 0 else home, u)
        else:
            shop = shops.popular_online(u)
        amount = math.exp(self._rnd.gauss(pop.mu_payment[i], pop.sigma_payment[i])) * shops.amount_factor[shop]
        if rand() < BIG_PURCHASE_SHARE:
            amount *= 3.0 + 9.0 * rand()
        amount = self._affordable(i, max(int(amount), 50))
        if amount == 0:
            return self._deposit(i, pop.salary[i] // 3, opening=False, t=-1)
        units = amount / (100.0 * pop.price[i])
        auth = auth_method(channel, units, rand())
        country = abroad if abroad >= 0 else home
        if channel is POS:
            device = self._device(i, MOBILE) if auth == "BIOMETRIC" else None  # phone wallet
            ip = None
        else:
            device = self._device(i, channel)
            ip = self._ip(i, channel, abroad)
        shop_id = shops.ids[shop]
        draft = (PAYMENT, i, -1, pop.ids[i], shop_id, amount, pop.currency[i], channel,
                 COUNTRIES[country].code, shop_id, shops.mcc[shop], device, ip, auth)
        if device is not None and abroad < 0 and rand() < BURST_SHARE:
            self._burst(i, t, draft)
        return draft

    def _burst(self, i: int, t: int, first: Draft) -> None:
        """A few more small payments within minutes: top-ups in a game, tickets for a group."""
        pop, shops, rand = self._pop, self._shops, self._random
        same_shop = rand() < 0.5
        for _ in range(self._rnd.randint(2, 6)):
            t += 15_000 + int(rand() * 90_000)
            shop = shops.popular_online(rand()) if not same_shop else -1
            shop_id = first[4] if same_shop else shops.ids[shop]
            mcc = first[10] if same_shop else shops.mcc[shop]
            amount = max(50, int(math.exp(pop.mu_payment[i]) * (0.05 + 0.35 * rand())))
            auth = auth_method(first[7], amount / (100.0 * pop.price[i]), rand())
            self._schedule(t, (*first[:4], shop_id, amount, *first[6:9], shop_id, mcc, *first[11:13], auth), "legit")

    def _transfer(self, i: int, t: int, abroad: int) -> Draft:
        pop, rand = self._pop, self._random
        if rand() < NEW_PAYEE_SHARE:
            pool = pop.by_currency[pop.currency[i]]
            payee = pool[int(rand() * len(pool))]
        else:
            payee = pop.payee(i, int(pop.n_payees[i] * rand() ** 2))
        if payee == i:
            return self._payment(i, t, abroad)
        wanted = math.exp(self._rnd.gauss(pop.mu_transfer[i], pop.sigma_transfer[i]))
        amount = self._affordable(i, max(100, int(wanted)))
        if amount == 0:
            return self._deposit(i, pop.salary[i] // 3, opening=False, t=-1)
        r = rand()
        channel = MOBILE if r < TRANSFER_MOBILE_SHARE[pop.channel_profile[i]] else WEB if r < 0.99 else BRANCH
        if channel is BRANCH and abroad >= 0:
            channel = WEB
        device = self._device(i, channel) if channel is not BRANCH else None
        ip = self._ip(i, channel, abroad) if device is not None else None
        country = abroad if abroad >= 0 else pop.country[i]
        return (TRANSFER, i, payee, pop.ids[i], pop.ids[payee], amount, pop.currency[i], channel,
                COUNTRIES[country].code, None, None, device, ip,
                auth_method(channel, amount / (100.0 * pop.price[i]), rand()))

    def _withdrawal(self, i: int, abroad: int) -> Draft:
        pop, rand = self._pop, self._random
        currency = pop.currency[i]
        notes = ATM_UNITS[currency]
        amount = self._affordable(i, 100 * notes[int(rand() * len(notes))])
        amount -= amount % (100 * notes[0])  # ATMs pay out whole notes
        if amount <= 0:
            return self._deposit(i, pop.salary[i] // 3, opening=False, t=-1)
        channel = ATM if abroad >= 0 or rand() < 0.92 else BRANCH
        country = abroad if abroad >= 0 else pop.country[i]
        return (WITHDRAWAL, i, -1, pop.ids[i], self._settlement[currency], amount, currency, channel,
                COUNTRIES[country].code, None, None, None, None, auth_method(channel, 0.0, rand()))

    def _affordable(self, i: int, amount: int) -> int:
        """The amount, or less if the balance is short; 0 when it is time for a top-up."""
        balance = self._state.balance[i]
        if amount <= balance:
            return amount
        r = self._random()
        if r < SHORT_OF_FUNDS_ATTEMPT_SHARE:
            return amount  # will be declined for insufficient funds
        if balance >= 4000 * self._pop.price[i] and r < 0.6:
            return int(balance * (0.3 + 0.5 * self._random()))
        return 0

    def _device(self, i: int, channel: Channel) -> str:
        pop, rand = self._pop, self._random
        n = pop.n_devices[i]
        if rand() < ODD_DEVICE_SHARE:
            return f"dev-{derive(pop.key[i], 3000 + int(rand() * 1_000_000)):012x}"
        if channel is MOBILE:
            if rand() < NEW_PHONE_SHARE:
                self._state.device_generation[i] += 1
            slot = 2 if n == 3 and rand() < 0.2 else 0
        else:
            slot = 1 if n >= 2 else 0
        return pop.device_id(i, slot, self._state.device_generation[i])

    def _ip(self, i: int, channel: Channel, abroad: int) -> str:
        if abroad >= 0:
            return random_ip(abroad, self._rnd.getrandbits(32))  # hotel wifi, roaming
        if channel is MOBILE and self._random() < 0.5:
            return random_ip(self._pop.country[i], self._rnd.getrandbits(32))  # mobile carrier
        ips = self._home_ips.get(i)
        if ips is None:
            ips = self._home_ips[i] = (self._pop.home_ip(i, 0), self._pop.home_ip(i, 1))
        return ips[0] if self._random() < 0.8 else ips[1]
