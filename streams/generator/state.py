"""What changes while the stream runs: balances, salaries due, trips, replaced phones."""

from __future__ import annotations

from streams.generator.population import Population


class AccountState:
    """Mutable per-account state, one list slot per account (index as in Population)."""

    __slots__ = (
        "balance",
        "device_generation",
        "funded",
        "funded_by_currency",
        "funded_ids",
        "mule_payers",
        "next_salary_ms",
        "next_trip_ms",
        "trip_country",
        "trip_until_ms",
    )

    def __init__(self, population: Population) -> None:
        n = population.size
        #: What the ledger would hold, if every transaction with enough funds were approved.
        self.balance = [0] * n
        self.funded = [False] * n
        self.funded_ids: list[int] = []
        self.funded_by_currency: dict[str, list[int]] = {code: [] for code in population.by_currency}
        self.next_salary_ms = [0] * n
        self.trip_until_ms = [0] * n
        self.trip_country = [0] * n
        self.next_trip_ms = list(population.first_trip_ms)
        self.device_generation = [0] * n
        #: Who has already paid each mule, so a fan-in only has first-time payers.
        self.mule_payers: dict[int, set[int]] = {}

    def mark_funded(self, i: int, currency: str) -> None:
        self.funded[i] = True
        self.funded_ids.append(i)
        self.funded_by_currency[currency].append(i)

    def settle(self, src: int, dst: int, amount: int) -> None:
        """Move money as the ledger would; a debit without funds moves nothing. -1: not a customer."""
        balance = self.balance
        if src >= 0:
            if balance[src] < amount:
                return
            balance[src] -= amount
        if dst >= 0:
            balance[dst] += amount
