"""Double-entry arithmetic: every movement is a debit leg and a credit leg of the same amount.

Pure: `book` moves an account state's balance by one leg and numbers it, in memory;
`posting_record` (and `debit` / `credit`) also make the leg's Posting record, a dict in the Avro
shape. The agents book and encode each leg in one step (agents/outputs.py). Ids are
deterministic (`<tx_id>:D`, `<tx_id>:C`), so a replayed output is recognised downstream by its
id.
"""

from __future__ import annotations

from typing import Any

from streams.accounts import AccountState

DEBIT_LEG = "D"
CREDIT_LEG = "C"
#: A posting's direction (schema io.paystream.Direction).
DEBIT, CREDIT = "DEBIT", "CREDIT"


def system_shard(account: str, partition: int) -> str:
    """The partition's own shard of a system account (e.g. sys:settlement:EUR:p07).

    Every partition posts deposits and withdrawals against its own shard, so no partition ever
    waits for another; the system account's balance is the sum of its shards.
    """
    return f"{account}:p{partition:02d}"


def book(state: AccountState, tx_id: str, currency: str, direction: str, amount: int) -> int:
    """Move `state`'s balance in `currency` by one leg and number it; return the balance after
    (the leg's number is `state.seq` then)."""
    assert amount > 0, f"posting amount must be positive, got {amount} for {tx_id}"
    balance = state.balances.get(currency, 0) + (amount if direction == CREDIT else -amount)
    state.balances[currency] = balance
    state.seq += 1
    return balance


def posting_record(state: AccountState, *, leg: str, tx_id: str, account: str, currency: str,
                   direction: str, amount: int, event_time: int, now_ms: int) -> dict[str, Any]:
    balance = book(state, tx_id, currency, direction, amount)
    return {
        "posting_id": f"{tx_id}:{leg}",
        "tx_id": tx_id,
        "account": account,
        "currency": currency,
        "direction": direction,
        "amount": amount,
        "balance_after": balance,
        "account_seq": state.seq,
        "event_time": event_time,
        "posted_at": now_ms,
    }


#: The second pair of a movement across currencies (a payout's FX legs): debit and credit in
#: the currency paid out, beside the D and C in the currency debited.
FX_DEBIT_LEG, FX_CREDIT_LEG = "XD", "XC"


def debit(state: AccountState, account: str, tx_id: str, amount: int, currency: str,
          event_time: int, now_ms: int, leg: str = DEBIT_LEG) -> dict[str, Any]:
    return posting_record(state, leg=leg, tx_id=tx_id, account=account, currency=currency,
                          direction=DEBIT, amount=amount, event_time=event_time, now_ms=now_ms)


def credit(state: AccountState, account: str, tx_id: str, amount: int, currency: str,
           event_time: int, now_ms: int, leg: str = CREDIT_LEG) -> dict[str, Any]:
    return posting_record(state, leg=leg, tx_id=tx_id, account=account, currency=currency,
                          direction=CREDIT, amount=amount, event_time=event_time, now_ms=now_ms)
