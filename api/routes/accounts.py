"""Accounts: balances and open holds as the workers hold them now, and the ledger statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from cachetools import LRUCache
from fastapi import APIRouter, Depends, Path, Query, Request

from api import cursor, reads
from api.errors import NotFound
from api.keys import Principal
from api.models import Account, Ident, Page, Statement
from api.security import analyst, services
from streams.accounts import read_accounts
from streams.ledgerchain import EPOCH, GENESIS, Tip, check_row

router = APIRouter(tags=["accounts"])
#: Most rows one statement request checks; `paystream ledger verify` checks any length.
CHAIN_CHECK_MAX_ROWS = 100_000


@router.get("/accounts/{account}", response_model=Account)
async def get_account(account: Annotated[Ident, Path()], request: Request,
                      _: Principal = Depends(analyst)) -> dict[str, Any]:
    """Balance per currency (posted, held for review, available) and the open holds, live from
    the account state the workers decide with."""
    svc = services(request)
    state = (await read_accounts(svc.state, svc.settings.topic_prefix, [account],
                                 svc.settings.partitions)).get(account)
    if state is None:
        raise NotFound(f"no account {account!r}")
    currencies = sorted(set(state.balances) | {h.currency for h in state.holds.values()})
    return {"account": account, "postings": state.seq,
            "balances": [{"currency": c, "balance": state.balance(c), "held": state.held(c),
                          "available": state.available(c)} for c in currencies],
            "holds": [{"tx_id": h.tx_id, "destination": h.destination, "amount": h.amount,
                       "currency": h.currency,
                       "expires_at": EPOCH + timedelta(milliseconds=h.expires_at_ms)}
                      for h in sorted(state.holds.values(), key=lambda h: h.expires_at_ms)]}


@router.get("/accounts/{account}/statement", response_model=Statement)
async def get_statement(account: Annotated[Ident, Path()], page: Annotated[Page, Query()],
                        request: Request, _: Principal = Depends(analyst)) -> dict[str, Any]:
    """Ledger rows in sequence with balance_after, a page at a time, and whether the account's
    hash chain verifies from its first row to the last row of the page."""
    svc = services(request)
    after = cursor.decode(page.cursor, (int,))
    rows = await reads.statement(svc.db, account, after[0] if after else 0, page.limit + 1)
    if not rows and after is None and not await reads.has_ledger(svc.db, account):
        raise NotFound(f"no ledger rows for account {account!r}")
    more = len(rows) > page.limit
    rows = rows[:page.limit]
    return {"account": account,
            "items": [{k: r[k] for k in ("posting_id", "tx_id", "currency", "direction", "amount",
                                         "balance_after", "account_seq", "event_time", "posted_at")}
                      for r in rows],
            "next_cursor": cursor.encode(rows[-1]["account_seq"]) if more else None,
            "chain": await _check_chain(svc, account, rows, after[0] if after else 0)}


async def _check_chain(svc: Any, account: str, page: list[Any], after_seq: int) -> dict[str, Any]:
    """Check the account's chain from its first row to the last row of this page.

    Rows this process has checked before are not read again (a row changed since breaks the
    link to the next row read; `paystream ledger verify` re-reads everything), and a page that
    continues the checked part is checked from the rows already fetched. Reading the whole chain
    on every request cost ~27 ms of PostgreSQL for ~500 rows, each on its own heap page
    (`make bench-api`)."""
    upto = page[-1]["account_seq"] if page else after_seq
    known = CHECKED.get(account) or CheckedChain(0, GENESIS, {})
    if known.seq >= upto:
        return {"verified": True, "rows_checked": upto, "problem": None}
    if upto - known.seq > CHAIN_CHECK_MAX_ROWS:
        return {"verified": None, "rows_checked": known.seq,
                "problem": f"more than {CHAIN_CHECK_MAX_ROWS} rows to check: run `paystream "
                           f"ledger verify`, or page on from row {known.seq}"}
    rows = page if known.seq == after_seq else await svc.db.fetch(
        reads.CHAIN_RANGE_SQL, account, known.seq, upto)
    tip, balances = Tip(known.seq, known.hash), dict(known.balances)
    for row in rows:
        problem = check_row({**dict(row), "account": account}, tip, balances)
        if problem:
            return {"verified": False, "rows_checked": row["account_seq"], "problem": problem}
        tip = Tip(row["account_seq"], row["hash"])
        balances[row["currency"]] = row["balance_after"]
    CHECKED[account] = CheckedChain(tip.seq, tip.hash, balances)
    return {"verified": True, "rows_checked": tip.seq, "problem": None}


@dataclass(frozen=True, slots=True)
class CheckedChain:
    seq: int
    hash: str
    balances: dict[str, int]


#: The chain tips this process has checked, least recently used dropped first; ~100 bytes an
#: account.
CHECKED: LRUCache[str, CheckedChain] = LRUCache(maxsize=100_000)
