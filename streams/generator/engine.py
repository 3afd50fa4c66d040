"""The generator: everyday arrivals merged in time order with scheduled bursts and fraud episodes."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Callable, Iterator

import numpy as np

from streams.errors import ConfigError
from streams.generator.arrivals import Arrivals
from streams.generator.config import GeneratorConfig
from streams.generator.legit import BURST_EXTRA_PER_ARRIVAL, DRAIN_SCALE, Draft, LegitTraffic
from streams.generator.population import build_merchants, build_population
from streams.generator.scenarios import RELABELLED_SHARE_OF_FRAUD, FraudScenarios
from streams.generator.state import AccountState
from streams.records import FraudLabel, Transaction

#: After an episode could not be planned (too few funded accounts yet), retry this many
#: transactions later rather than on every one.
_RETRY_AFTER_TX = 25


class TrafficGenerator:
    """Deterministic synthetic transactions with ground-truth fraud labels.

    Everything, tx_ids included, follows from the config; successive generate() calls continue
    one stream, so generate(a) then generate(b) yields what generate(a + b) would.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        # Separate random streams for who exists, when they act and what they do, so changing
        # one of these parts leaves the draws of the others as they were.
        population_seq, arrivals_seq, behaviour_seq = np.random.SeedSequence([config.seed, 0x9A75]).spawn(3)
        population_rng = np.random.default_rng(population_seq)
        self._population = build_population(config, population_rng)
        merchants = build_merchants(config, population_rng)
        self._state = AccountState(self._population)
        self._arrivals = Arrivals(self._population, config, np.random.default_rng(arrivals_seq))
        rnd_seed, device_key = behaviour_seq.generate_state(2, np.uint64).tolist()
        rnd = random.Random(rnd_seed)
        self._pending: list[tuple[int, int, Draft, str]] = []  # heap of (time, seq, draft, scenario)
        self._sequence = itertools.count()
        self._legit = LegitTraffic(
            self._population, merchants, self._state, rnd, self._schedule, config.trips_per_account_per_year
        )
        self._fraud = FraudScenarios(
            self._population, merchants, self._state, rnd, device_key
        )
        # The config's fingerprint in every id: another config never reuses an id for another body.
        fingerprint = hashlib.blake2b(repr(config).encode(), digest_size=4).hexdigest()
        self._id_prefix = f"tx-{config.seed}-{fingerprint}-"
        self._stream = self._run()

    def generate(self, count: int) -> Iterator[tuple[Transaction, FraudLabel]]:
        """The next `count` transactions with their labels, in event-time order."""
        if not isinstance(count, int) or count < 0:
            raise ConfigError(f"count={count!r}: must be an int >= 0")
        return itertools.islice(self._stream, count)

    def span_ms(self, count: int, end_ms: int | None = None) -> int:
        """About how much simulated time `count` transactions cover from config.start_ms.

        Traffic is thin at night, so the span depends on the time of day it starts. To end near
        a time (now, say), pass end_ms: the span is then measured backwards from it, and
        start_ms = end_ms - span_ms(count, end_ms=end_ms) ends there (within minutes to an
        hour: arrivals are random).
        """
        extra_fraud = self.config.fraud_share * (1.0 - RELABELLED_SHARE_OF_FRAUD)
        arrivals = count * (1.0 - extra_fraud) / (1.0 + BURST_EXTRA_PER_ARRIVAL)
        if end_ms is None:
            return self._arrivals.time_to_cover_ms(arrivals, self.config.start_ms, backwards=False)
        return self._arrivals.time_to_cover_ms(arrivals, end_ms, backwards=True)

    def _schedule(self, time_ms: int, draft: Draft, scenario: str) -> None:
        heapq.heappush(self._pending, (time_ms, next(self._sequence), draft, scenario))

    def _run(self) -> Iterator[tuple[Transaction, FraudLabel]]:
        pending, fraud, schedule = self._pending, self._fraud, self._schedule
        next_legit, settle, balance = self._legit.next, self._state.settle, self._state.balance
        prefix, share = self._id_prefix, self.config.fraud_share
        # Fraud "credit": fraud_share per transaction emitted, spent by each episode's size, so
        # fraud stays at fraud_share of the stream however episodes vary.
        credit, threshold = 0.0, fraud.threshold()
        counter = 0
        compromised = fraud.compromised  # a dict: falsy (one check) while no terminal is
        while True:
            times, accounts = self._arrivals.next_batch()
            for t, i in zip(times, accounts, strict=True):
                while pending and pending[0][0] <= t:
                    when, _, draft, scenario = heapq.heappop(pending)
                    if draft[5] < 0:
                        draft = _drain(draft, balance[draft[1]])
                    counter += 1
                    credit += share
                    if scenario == "legit" and compromised and fraud.is_compromised(draft[9], when):
                        credit -= 1.0
                        scenario = "compromised_terminal"
                    yield _emit(prefix + str(counter), when, draft, scenario, settle)
                draft = next_legit(i, t)
                counter += 1
                credit += share
                scenario = "legit"
                if compromised and fraud.is_compromised(draft[9], t):
                    credit -= 1.0  # fraud too: it counts against the share like an episode's
                    scenario = "compromised_terminal"
                yield _emit(prefix + str(counter), t, draft, scenario, settle)
                if credit >= threshold:
                    scenario, episode = fraud.plan(t)
                    if episode:
                        credit -= len(episode)
                        threshold = fraud.threshold()
                        for when, fraud_draft in episode:
                            schedule(when, fraud_draft, scenario)
                    else:
                        threshold = credit + _RETRY_AFTER_TX * share


def _drain(draft: Draft, balance: int) -> Draft:
    """Resolve a draft that drains a share of the source's balance into a fixed amount."""
    amount = max(100, balance * -draft[5] // DRAIN_SCALE)
    return (*draft[:5], amount, *draft[6:])


def _emit(
    tx_id: str, time_ms: int, draft: Draft, scenario: str, settle: Callable[[int, int, int], None]
) -> tuple[Transaction, FraudLabel]:
    kind, src, dst, source, destination, amount, currency, channel, country, merchant, mcc, device, ip, auth = draft
    settle(src, dst, amount)
    transaction = Transaction(
        tx_id, kind, source, destination, amount, currency, time_ms, channel, country, merchant, mcc, device, ip,
        {}, auth,
    )
    return transaction, FraudLabel(tx_id, scenario != "legit", scenario)
