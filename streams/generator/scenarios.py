"""Fraud episodes: each planned at once as a handful of timed drafts, all labelled with its name.

What gives them away is behaviour across transactions (a burst, a new device in a new country,
many payers converging on one account), never a field that only fraud uses: channels, auth
methods, amounts and countries all come from ranges that legit traffic also produces.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from streams.generator.legit import (
    API,
    DRAIN_SCALE,
    MOBILE,
    PAYMENT,
    POS,
    TRANSFER,
    WEB,
    Draft,
    auth_method,
    foreign_country,
)
from streams.generator.population import (
    DAY_MS,
    Merchants,
    Population,
    derive,
    random_ip,
)
from streams.generator.reference import (
    COUNTRIES,
    COUNTRY_INDEX,
    ONLINE_HUBS,
    PRICE_LEVEL,
)
from streams.generator.state import AccountState
from streams.records import TransactionType

SCENARIOS = ("card_testing", "account_takeover", "mule_fan_in", "velocity_abuse", "compromised_terminal")
#: Episodes come from shuffled decks of eleven, so every scenario shows up within any 22 episodes.
_DECK = (("card_testing",) * 3 + ("account_takeover",) * 4 + ("mule_fan_in",) + ("velocity_abuse",) * 2
         + ("compromised_terminal",))
#: Mean transactions per episode: paces episodes so that fraud is fraud_share of the stream.
MEAN_SIZE = {"card_testing": 19.0, "account_takeover": 2.5, "mule_fan_in": 25.0, "velocity_abuse": 27.5,
             "compromised_terminal": 62.5}
#: How long a compromised terminal keeps being used, in days. Longer than the label delay the
#: generator's users pick (a day by default), so the labels of its first frauds can catch the rest.
COMPROMISE_DAYS_MIN, COMPROMISE_DAYS_MAX = 1.5, 4.0
#: Customers' own payments at a compromised terminal that turn fraud before it is replaced.
_RELABELLED = (20, 80)
#: Share of all fraud that is such relabelled legit traffic rather than extra transactions
#: (measured: ~18% on seeds 1-4 and 99 at 2% fraud); the engine's time-span estimate needs it.
RELABELLED_SHARE_OF_FRAUD = 0.18
#: Proxy exits that card testers rotate through; shared across episodes, as in real rings.
_PROXIES = 24
#: Fraud rings work many victims from a few devices (emulators, farmed phones): this share of
#: the episodes that bring their own device use one of a ring's _RING_DEVICES, each replaced by
#: a fresh one after _RING_DEVICE_USES episodes (rings rotate devices once they get blocked).
#: Only the labels of earlier frauds can tell (agents/fraud/labelrisk.py, device risk): to each
#: victim the device is as new as any other.
RING_DEVICE_SHARE = 0.5
_RING_DEVICES = 8
_RING_DEVICE_USES = 12
#: Drawn from hashes rather than the scenarios' random stream, so the rest of the traffic is as
#: it was.
_RING_SALT = 0x5EED_D0
_TRIES_PER_EPISODE = 5
MINUTE_MS = 60_000

Episode = list[tuple[int, Draft]]


class FraudScenarios:
    def __init__(
        self, population: Population, merchants: Merchants, state: AccountState, rnd: random.Random, key: int
    ) -> None:
        self._pop = population
        self._shops = merchants
        self._state = state
        self._rnd = rnd
        self._key = key
        self._devices_made = 0
        self._attacks = 0
        self._ring_uses = [0] * _RING_DEVICES
        self._failures = 0
        self._deck: list[str] = []
        #: Compromised terminals: shop id -> [from ms, until ms, payments left]; every payment
        #: there in between is fraud, up to a budget (the engine asks `is_compromised`).
        self.compromised: dict[str, list[int]] = {}
        self._ever_compromised: set[str] = set()
        self._planners: dict[str, Callable[[int], Episode]] = {
            "card_testing": self._card_testing,
            "account_takeover": self._account_takeover,
            "mule_fan_in": self._mule_fan_in,
            "velocity_abuse": self._velocity_abuse,
            "compromised_terminal": self._compromised_terminal,
        }
        self._scenario = self._draw()
        hosting = [COUNTRY_INDEX[code] for code in ONLINE_HUBS]
        proxies = [hosting[rnd.randrange(len(hosting))] for _ in range(_PROXIES)]
        self._proxies = [(c, random_ip(c, rnd.getrandbits(32))) for c in proxies]

    def is_compromised(self, shop_id: str | None, t: int) -> bool:
        """Whether a payment at `shop_id` at `t` is fraud; counts it against the terminal's
        budget (a busy shop is found out sooner: the fraud it yields stays bounded)."""
        if shop_id is None:
            return False
        window = self.compromised.get(shop_id)
        if window is None or t < window[0]:
            return False
        if t >= window[1] or window[2] <= 0:
            del self.compromised[shop_id]  # over: forget it (any later payment there is legit)
            return False
        window[2] -= 1
        return True

    def threshold(self) -> float:
        """Fraud credit (transactions owed to fraud) at which the next episode starts."""
        return MEAN_SIZE[self._scenario] * self._rnd.uniform(0.3, 1.7)

    def plan(self, t: int) -> tuple[str, Episode]:
        """The next scenario and its episode, starting at or after t; the episode is empty if
        nobody suitable is funded yet.

        A scenario the population cannot stage (too few accounts in one currency, every
        account already paid the mules) is skipped after a few tries, so the others go on.
        """
        scenario = self._scenario
        episode = self._planners[scenario](t)
        if episode:
            self._failures = 0
            self._scenario = self._draw()
        else:
            self._failures += 1
            if self._failures >= _TRIES_PER_EPISODE:
                self._failures = 0
                self._scenario = self._draw()
        return scenario, episode

    def _draw(self) -> str:
        if not self._deck:
            self._deck = list(_DECK)
            self._rnd.shuffle(self._deck)
        return self._deck.pop()

    def _card_testing(self, t: int) -> Episode:
        """8-30 tiny payments at many shops within minutes, from a device the account never used."""
        rnd, pop, shops = self._rnd, self._pop, self._shops
        victim = self._victim(min_units=0.0)
        if victim < 0:
            return []
        n = rnd.randint(8, 30)
        device = self._attacker_device()
        channel = WEB if rnd.random() < 0.7 else API
        if rnd.random() < 0.4:
            country = pop.country[victim]  # a residential proxy in the card holder's country
            ip = random_ip(country, rnd.getrandbits(32))
        else:
            country, ip = self._proxies[rnd.randrange(_PROXIES)]  # hosting in a big country
        small = shops.online_small or shops.online
        picked = rnd.sample(small, n) if len(small) >= n else rnd.choices(small, k=n)
        start, duration = t + rnd.randrange(30_000), rnd.uniform(1.0, 6.0) * MINUTE_MS
        price = pop.price[victim]
        episode: Episode = []
        for shop in picked:
            amount = rnd.randint(50, 500) if rnd.random() < 0.7 else rnd.choice((100, 100, 150, 199, 200, 299, 500))
            auth = auth_method(channel, amount / (100.0 * price), rnd.random())
            episode.append((start + int(rnd.random() * duration), (
                PAYMENT, victim, -1, pop.ids[victim], shops.ids[shop], amount, pop.currency[victim], channel,
                COUNTRIES[country].code, shops.ids[shop], shops.mcc[shop], device, ip, auth)))
        return episode

    def _account_takeover(self, t: int) -> Episode:
        """New device in a new country, maybe a tiny probe, then 1-3 transfers draining to a mule."""
        rnd, pop = self._rnd, self._pop
        candidates = [self._victim(min_units=150.0) for _ in range(3)]
        victim = max(candidates, key=lambda v: self._state.balance[v] if v >= 0 else -1)
        if victim < 0:
            return []
        mule = self._mule(pop.currency[victim], victim)
        if mule < 0:
            return []
        country = foreign_country(pop.country[victim], rnd)
        ip = random_ip(country, rnd.getrandbits(32))
        device = self._attacker_device()
        channel = WEB if rnd.random() < 0.6 else MOBILE
        currency, price = pop.currency[victim], pop.price[victim]
        start = t + rnd.randrange(120_000)
        episode: Episode = []

        def draft(kind: TransactionType, dst: int, dst_id: str, amount: int, shop: int) -> Draft:
            units = (self._state.balance[victim] * -amount / DRAIN_SCALE if amount < 0 else amount) / (100.0 * price)
            auth = auth_method(channel, units, rnd.random())
            shop_id = self._shops.ids[shop] if shop >= 0 else None
            mcc = self._shops.mcc[shop] if shop >= 0 else None
            return (kind, victim, dst, pop.ids[victim], dst_id, amount, currency, channel,
                    COUNTRIES[country].code, shop_id, mcc, device, ip, auth)

        if rnd.random() < 0.5:
            probe = int(rnd.uniform(1.0, 5.0) * 100 * price)
            if rnd.random() < 0.5:
                shop = self._shops.popular_online(rnd.random())
                episode.append((start, draft(PAYMENT, -1, self._shops.ids[shop], probe, shop)))
            else:
                episode.append((start, draft(TRANSFER, mule, pop.ids[mule], probe, -1)))
        # The fraudster sends what the account holds when each transfer goes out: k transfers
        # that each take the same share of what is left leave 5-30% behind.
        transfers = rnd.randint(1, 3)
        each = 1.0 - (1.0 - rnd.uniform(0.7, 0.95)) ** (1.0 / transfers)
        duration = rnd.uniform(2.0, 60.0) * MINUTE_MS
        for when in sorted(start + 30_000 + int(rnd.random() * duration) for _ in range(transfers)):
            episode.append((when, draft(TRANSFER, mule, pop.ids[mule], -int(each * DRAIN_SCALE), -1)))
        self._state.mule_payers.setdefault(mule, set()).add(victim)
        return episode

    def _mule_fan_in(self, t: int) -> Episode:
        """10-40 first-time payers, one currency, all paying one mule within minutes to 2 hours."""
        rnd, pop, state = self._rnd, self._pop, self._state
        currencies = [c for c, ids in state.funded_by_currency.items() if len(ids) >= 30 and pop.mules[c]]
        if not currencies:
            return []
        currency = rnd.choices(currencies, [len(state.funded_by_currency[c]) for c in currencies])[0]
        n = min(rnd.randint(10, 40), len(state.funded_by_currency[currency]) // 3)
        mule = self._mule(currency, -1)
        if mule < 0:
            return []
        already = state.mule_payers.setdefault(mule, set())
        funded, price = state.funded_by_currency[currency], PRICE_LEVEL[currency]
        payers: list[int] = []
        for _ in range(20 * n):  # bounded search for distinct, funded, first-time payers
            if len(payers) == n:
                break
            s = funded[rnd.randrange(len(funded))]
            if s != mule and not pop.is_mule[s] and s not in already and state.balance[s] >= 3000 * price:
                payers.append(s)
                already.add(s)
        if len(payers) < 10:
            already.difference_update(payers)
            return []
        start, duration = t + rnd.randrange(60_000), rnd.uniform(10.0, 120.0) * MINUTE_MS
        episode: Episode = []
        for s in payers:
            amount = int(min(rnd.uniform(80.0, 900.0) * 100 * price, 0.8 * state.balance[s]))
            mobile = rnd.random() < 0.6
            channel = MOBILE if mobile else WEB
            device = pop.device_id(s, 0 if mobile or pop.n_devices[s] == 1 else 1, state.device_generation[s])
            auth = auth_method(channel, amount / (100.0 * price), rnd.random())
            episode.append((start + int(rnd.random() * duration), (
                TRANSFER, s, mule, pop.ids[s], pop.ids[mule], amount, currency, channel,
                COUNTRIES[pop.country[s]].code, None, None, device, pop.home_ip(s, 0), auth)))
        return episode

    def _velocity_abuse(self, t: int) -> Episode:
        """15-40 medium payments and transfers from one account within 10-19 minutes."""
        rnd, pop, shops, state = self._rnd, self._pop, self._shops, self._state
        victim = self._victim(min_units=50.0)
        if victim < 0:
            return []
        own_device = rnd.random() < 0.5
        if own_device:
            device, ip = pop.device_id(victim, 0, state.device_generation[victim]), pop.home_ip(victim, 0)
        else:
            device, ip = self._attacker_device(), random_ip(pop.country[victim], rnd.getrandbits(32))
        currency, price, median = pop.currency[victim], pop.price[victim], math.exp(pop.mu_payment[victim])
        payees = pop.by_currency[currency]
        n = rnd.randint(15, 40)
        start, duration = t + rnd.randrange(60_000), rnd.uniform(10.0, 19.0) * MINUTE_MS
        country = COUNTRIES[pop.country[victim]].code
        episode: Episode = []
        for _ in range(n):
            channel = MOBILE if own_device else (WEB if rnd.random() < 0.7 else API)
            payee = payees[rnd.randrange(len(payees))]
            shop_id: str | None = None
            mcc: str | None = None
            if rnd.random() < 0.6 or payee == victim:
                small = shops.online_small
                shop = shops.popular_online(rnd.random()) if rnd.random() < 0.5 else rnd.choice(small)
                kind, payee, payee_id, shop_id, mcc = PAYMENT, -1, shops.ids[shop], shops.ids[shop], shops.mcc[shop]
                amount = int(median * rnd.uniform(1.5, 5.0))
            else:
                kind, payee_id = TRANSFER, pop.ids[payee]
                amount = int(median * rnd.uniform(2.0, 8.0))
            auth = auth_method(channel, amount / (100.0 * price), rnd.random())
            episode.append((start + int(rnd.random() * duration), (
                kind, victim, payee, pop.ids[victim], payee_id, amount, currency, channel, country, shop_id, mcc,
                device, ip, auth)))
        return episode

    def _compromised_terminal(self, t: int) -> Episode:
        """A shop's card terminal is compromised: for 1.5-4 days every payment at it is fraud (the
        engine relabels its customers' own payments there, up to 20-80: `compromised`), and 5-20 cloned
        cards of local customers pay at it too, each once, as ordinary in-person purchases.

        Nothing in one payment gives it away (its own customer's country, the usual channel, amount
        and authentication, a shop people visit); what does is that the terminal already had
        confirmed fraud: the label-risk features (agents/fraud/labelrisk.py), once the first
        payments' labels come back.
        """
        rnd, pop, shops, state = self._rnd, self._pop, self._shops, self._state
        anchor = self._victim(min_units=0.0)
        if anchor < 0:
            return []
        country, currency = pop.country[anchor], pop.currency[anchor]
        if not shops.physical[country]:
            return []
        # Any shop, not the most visited: how much legit traffic turns fraud varies less. A
        # terminal is compromised once at most (then it is replaced).
        shop = shops.physical[country][rnd.randrange(len(shops.physical[country]))]
        if shops.ids[shop] in self._ever_compromised:
            return []
        self._ever_compromised.add(shops.ids[shop])
        n = rnd.randint(5, 20)
        funded = state.funded_by_currency[currency]
        victims: list[int] = []
        for _ in range(20 * n):  # bounded search for distinct funded customers of that country
            if len(victims) == n:
                break
            s = funded[rnd.randrange(len(funded))]
            if (pop.country[s] == country and not pop.is_mule[s] and s not in victims
                    and state.balance[s] >= 20 * 100 * pop.price[s]):
                victims.append(s)
        if len(victims) < 5:
            return []
        start = t + rnd.randrange(600_000)
        span_ms = rnd.uniform(COMPROMISE_DAYS_MIN, COMPROMISE_DAYS_MAX) * DAY_MS
        self.compromised[shops.ids[shop]] = [start, start + int(span_ms), rnd.randint(*_RELABELLED)]
        episode: Episode = []
        for s in victims:
            wanted = math.exp(rnd.gauss(pop.mu_payment[s], pop.sigma_payment[s])) * shops.amount_factor[shop]
            amount = max(50, min(int(wanted * rnd.uniform(1.0, 2.5)), state.balance[s] // 2))
            auth = auth_method(POS, amount / (100.0 * pop.price[s]), rnd.random())
            auth = "PIN" if auth == "BIOMETRIC" else auth  # a cloned card, not the customer's phone
            episode.append((start + int(rnd.random() * span_ms), (
                PAYMENT, s, -1, pop.ids[s], shops.ids[shop], amount, currency, POS,
                COUNTRIES[country].code, shops.ids[shop], shops.mcc[shop], None, None, auth)))
        return episode

    def _victim(self, min_units: float) -> int:
        """A funded customer (not a mule) holding at least min_units; -1 if none turns up."""
        funded, pop, balance = self._state.funded_ids, self._pop, self._state.balance
        for _ in range(20 if funded else 0):
            v = funded[self._rnd.randrange(len(funded))]
            if not pop.is_mule[v] and balance[v] >= min_units * 100 * pop.price[v]:
                return v
        return -1

    def _mule(self, currency: str, payer: int) -> int:
        """A mule in the currency whom payer (-1: anybody) has never paid; -1 if none turns up."""
        mules = self._pop.mules.get(currency, [])
        for _ in range(5 if mules else 0):
            mule = mules[self._rnd.randrange(len(mules))]
            if payer not in self._state.mule_payers.get(mule, ()):
                return mule
        return -1

    def _new_device(self) -> str:
        self._devices_made += 1
        return f"dev-{derive(self._key, self._devices_made):012x}"

    def _attacker_device(self) -> str:
        """The device an episode's fraudster brings: a ring's (RING_DEVICE_SHARE) or a new one."""
        self._attacks += 1
        mix = derive(self._key ^ _RING_SALT, self._attacks)
        if (mix & 0xFFFF) / 65536 >= RING_DEVICE_SHARE:
            return self._new_device()
        slot = (mix >> 16) % _RING_DEVICES
        generation = self._ring_uses[slot] // _RING_DEVICE_USES
        self._ring_uses[slot] += 1
        return f"dev-{derive(self._key, -1 - slot - _RING_DEVICES * generation):012x}"
