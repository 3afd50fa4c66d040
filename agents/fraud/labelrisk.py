"""Label risk: what the fraud labels received say about an account, as features.

A confirmed fraud taints the payment's destination (a merchant or terminal that was compromised
yesterday is where today's fraud happens), its payer (a card used for fraud once is likely
to be again) and its device (fraud rings work many victims' accounts from the same few phones
and browsers). The labels sink (sinks/labels.py) writes each fraud label, once its transaction
is known, as an entry in a small sorted set per account and per device, `lr:<name>` (a
device's name is DEVICE_PREFIX + its id: no account id holds "|", so the two never meet):
score = the transaction's event time, member = "<d|p|v>|<tx_id>|<payer>|<reported_at ms>" (d:
the account was the destination, p: the payer, v: the device). At most LABEL_RISK_CAP entries
per set, the latest by event time, and the set expires when no label came for
LABEL_RISK_TTL_MS: O(1) state per account and device.

No leakage: a label counts for a transaction's features only if its reported_at is at or before
that transaction's event time, so training (LabelRiskMemory fed in reported-at order) sees what
serving saw. The batch read fetches the sets of the batch's payers and destinations with the
rest (agents/store.py); the features come from the entries here, one function for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.fraud.fanin import Payment
from streams.records import Transaction

DAY_MS = 86_400_000
LABEL_RISK_CAP = 64
LABEL_RISK_TTL_MS = 90 * DAY_MS
#: The fraud rates: known frauds per payment at the destination in each of the last four weeks
#: (week 0: the 7 days up to the payment's day; week 1: the 7 before; ...). Which week says the
#: most depends on how late the labels come (a week late: week 1, week 0 is still unknown), so
#: the model learns it from the operator's own data rather than being told a delay.
RATE_WEEKS = 4
FEATURES = ("dest_fraud_1d", "dest_fraud_7d", "dest_fraud_30d", "dest_fraud_payers_30d",
            "payer_fraud_90d", *(f"dest_fraud_rate_week{k}" for k in range(RATE_WEEKS)),
            "device_fraud_1d", "device_fraud_7d", "device_fraud_30d", "device_fraud_payers_30d")
#: A device's set is `lr:<DEVICE_PREFIX><device id>`; "|" is in no id (streams.validation).
DEVICE_PREFIX = "device|"
#: Payments per destination per UTC day of their event time, the rates' denominators: kept for
#: the days the longest window reads (authorize's commit counts each payment; the read
#: returns a destination's days only when it has label-risk entries, the only time a rate is
#: not 0).
PAYMENT_DAYS_KEPT = 31
_DEST_WINDOWS_MS = (DAY_MS, 7 * DAY_MS, 30 * DAY_MS)
_PAYER_WINDOW_MS = 90 * DAY_MS
_DEVICE = FEATURES.index("device_fraud_1d")


@dataclass(frozen=True, slots=True)
class Entry:
    role: str  # "d" (the account was the destination) or "p" (the payer)
    tx_id: str
    payer: str
    reported_ms: int
    event_ms: int

    @property
    def member(self) -> str:
        return f"{self.role}|{self.tx_id}|{self.payer}|{self.reported_ms}"

    @classmethod
    def parse(cls, member: str, score: float) -> Entry:
        # ids never hold "|" (streams.validation.ID_PATTERN)
        role, tx_id, payer, reported = member.split("|")
        return cls(role, tx_id, payer, int(reported), int(score))


def device_name(device_id: str) -> str:
    """The name a device's label-risk set goes by beside the accounts'."""
    return DEVICE_PREFIX + device_id


def entries_of(tx_id: str, payer: str, destination: str, event_ms: int, reported_ms: int,
               device_id: str | None = None) -> list[tuple[str, Entry]]:
    """(set name, entry) pairs a confirmed fraud adds: one for its destination, one for its
    payer, one for its device if it names one."""
    pairs = [(destination, Entry("d", tx_id, payer, reported_ms, event_ms)),
             (payer, Entry("p", tx_id, payer, reported_ms, event_ms))]
    if device_id:
        pairs.append((device_name(device_id), Entry("v", tx_id, payer, reported_ms, event_ms)))
    return pairs


def entries_of_transaction(tx: Transaction, reported_ms: int) -> list[tuple[str, Entry]]:
    return entries_of(tx.tx_id, tx.source_account, tx.destination_account, tx.event_time,
                      reported_ms, tx.device_id)


def reported_after(items: Iterable[tuple[Transaction, bool]], delay_ms: int) -> list[tuple[str, Entry]]:
    """The entries of every fraud among `items` (transaction, is_fraud), each reported `delay_ms`
    after its event time: generated traffic's labels as serving would receive them."""
    return [pair for tx, is_fraud in items if is_fraud
            for pair in entries_of_transaction(tx, tx.event_time + delay_ms)]


def names_of(tx: Transaction) -> tuple[str, ...]:
    """The sets a transaction's features read: its payer's, its destination's, its device's."""
    if tx.device_id:
        return tx.source_account, tx.destination_account, device_name(tx.device_id)
    return tx.source_account, tx.destination_account


def features(txs: Sequence[Transaction], risk: dict[str, list[Entry]],
             payment_days: dict[str, dict[int, int]] | None = None) -> np.ndarray:
    """One row of FEATURES per transaction, from the entries held for its destination, payer
    and device (only those reported by the transaction's event time), and for the rates the
    destination's payments per day (`payment_days`: destination -> day -> payments, days of
    event time)."""
    out = np.zeros((len(txs), len(FEATURES)), dtype=np.float32)
    if not risk:
        return out
    days_of = payment_days or {}
    for i, tx in enumerate(txs):
        t = tx.event_time
        dest = [e for e in risk.get(tx.destination_account, ()) if e.role == "d" and e.reported_ms <= t]
        for j, window in enumerate(_DEST_WINDOWS_MS):
            out[i, j] = sum(1 for e in dest if t - window < e.event_ms <= t)
        out[i, 3] = len({e.payer for e in dest if t - _DEST_WINDOWS_MS[2] < e.event_ms <= t})
        out[i, 4] = sum(1 for e in risk.get(tx.source_account, ())
                        if e.role == "p" and e.reported_ms <= t and t - _PAYER_WINDOW_MS < e.event_ms <= t)
        days = days_of.get(tx.destination_account)
        if dest and days:
            today = t // DAY_MS
            fraud_days = [e.event_ms // DAY_MS for e in dest]
            for week in range(RATE_WEEKS):
                last = today - 7 * week
                paid = sum(days.get(day, 0) for day in range(last - 6, last + 1))
                frauds = sum(1 for day in fraud_days if last - 6 <= day <= last)
                out[i, 5 + week] = frauds / paid if paid else 0.0
        if tx.device_id:
            used = [e for e in risk.get(device_name(tx.device_id), ())
                    if e.role == "v" and e.reported_ms <= t]
            for j, window in enumerate(_DEST_WINDOWS_MS):
                out[i, _DEVICE + j] = sum(1 for e in used if t - window < e.event_ms <= t)
            out[i, _DEVICE + 3] = len({e.payer for e in used
                                       if t - _DEST_WINDOWS_MS[2] < e.event_ms <= t})
    return out


def trim(entries: Iterable[Entry]) -> list[Entry]:
    """The LABEL_RISK_CAP latest by event time (ties by member, as Redis orders a sorted set)."""
    ranked = sorted({e.member: e for e in entries}.values(), key=lambda e: (e.event_ms, e.member))
    return ranked[-LABEL_RISK_CAP:]


class PaymentDaysMemory:
    """The payments-per-day hashes' behaviour in a dict, for offline replays (and `warm`)."""

    def __init__(self) -> None:
        self._days: dict[str, dict[int, int]] = {}

    def apply(self, payments: Iterable[Payment]) -> None:
        for payment in payments:
            days = self._days.setdefault(payment.destination, {})
            day = payment.time_ms // DAY_MS
            days[day] = days.get(day, 0) + 1

    def lookup(self, destinations: Iterable[str]) -> dict[str, dict[int, int]]:
        return {d: self._days[d] for d in destinations if d in self._days}

    def recent(self, kept_from_day: int) -> dict[str, dict[int, int]]:
        """Each destination's days from `kept_from_day` on (what the store would still hold)."""
        out = {}
        for destination, days in self._days.items():
            kept = {day: n for day, n in days.items() if day >= kept_from_day}
            if kept:
                out[destination] = kept
        return out


class LabelRiskMemory:
    """The Redis sets' behaviour in a dict, for offline replays: entries are applied in
    reported-at order, as the labels sink applies them when they arrive."""

    def __init__(self, pending: Iterable[tuple[str, Entry]] = ()) -> None:
        self._sets: dict[str, list[Entry]] = {}
        self._pending = sorted(pending, key=lambda item: item[1].reported_ms)
        self._next = 0

    def advance(self, until_ms: int) -> None:
        """Apply every pending entry reported at or before `until_ms`."""
        touched: set[str] = set()
        while self._next < len(self._pending) and self._pending[self._next][1].reported_ms <= until_ms:
            account, entry = self._pending[self._next]
            self._sets.setdefault(account, []).append(entry)
            touched.add(account)
            self._next += 1
        for account in touched:
            self._sets[account] = trim(self._sets[account])

    def lookup(self, accounts: Iterable[str]) -> dict[str, list[Entry]]:
        return {a: self._sets[a] for a in accounts if a in self._sets}
