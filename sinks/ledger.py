"""The ledger sink: postings into an append-only, hash-chained table; and its verification.

Each account's rows form a chain: row n stores the SHA-256 of row n-1 (`prev_hash`) and its own
hash over that and its fields, so changing, removing or inserting a row anywhere breaks every
later link. A batch's rows are chained and written as COPY data in compiled code (sinks/rows.py)
and COPYed straight into the table; a batch that repeats a row goes through a staging table and
`INSERT ... ON CONFLICT DO NOTHING` instead, so a replayed batch writes nothing twice. The
database refuses UPDATE, DELETE and TRUNCATE on the table (migration 0001), whoever asks.

Postings of one account arrive in sequence order (one partition, produced in order); a batch
starts each account's chain from the account's newest row: the one this writer last committed,
remembered, or else read from the table in the same transaction. A remembered tip can only be
behind the table (rows are never removed, and another writer, after a rebalance, may have
added some), never wrong: a row's hash follows from its posting and the row before, so a row
chained onto a tip that is behind is the very row the other writer wrote (the COPY's conflict
sends the batch through the staging table, which skips it), and a posting past such a tip looks
like a gap, which reads the table's tips again before it is believed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from paystream_avro import PostingRows

from sinks.db import copy_into_stage, copy_new_rows
from streams.errors import PaystreamError
from streams.ledgerchain import GENESIS, Tip, check_row

COLUMNS = ("posting_id", "tx_id", "account", "currency", "direction", "amount", "balance_after",
           "account_seq", "prev_hash", "hash", "event_time", "posted_at")


class LedgerGapError(PaystreamError):
    """A posting's sequence number skips ahead of the account's newest row: never chain past it."""


#: Accounts whose tip a writer remembers; past this the memory starts again (~200 B each).
TIPS_REMEMBERED_MAX = 1_000_000


class LedgerWriter:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._db = connection
        # The newest committed row of each account this writer chained, as (sequence, hash).
        # Reading the tips cost PostgreSQL ~7.7 µs and this process ~2.2 per posting (5,000
        # accounts' index probes per batch in a 600k-row ledger, 2026-12-02), more than the COPY
        # of the rows.
        self._tips: dict[str, tuple[int, str]] = {}

    async def write(self, postings: PostingRows | list[dict[str, Any]]) -> int:
        """Append the batch's new postings in one transaction; return how many rows were new.

        Replays are already dropped by `chain` (sequence at or below the account's tip,
        remembered or read here), so the rows go straight in; a row another writer added
        meanwhile sends the batch through the staging table instead (sinks.db.copy_new_rows).
        """
        batch = postings if isinstance(postings, PostingRows) else PostingRows.from_records(postings)
        try:
            async with self._db.transaction():
                tips, data, rows = await self._chain(batch)
                if not rows:
                    return 0
                if await copy_new_rows(self._db, "ledger", COLUMNS, data):
                    written = rows
                else:
                    await copy_into_stage(self._db, "ledger_stage", "ledger", COLUMNS, data)
                    status = await self._db.execute(
                        f"INSERT INTO ledger ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} "
                        f"FROM ledger_stage ON CONFLICT DO NOTHING")
                    written = int(status.rsplit(" ", 1)[1])
        except BaseException:
            self._tips.clear()  # whether the transaction committed is not known: read again
            raise
        if len(self._tips) > TIPS_REMEMBERED_MAX:
            self._tips.clear()
        self._tips.update(tips)  # committed: the chain's new tips are the table's
        return written

    async def _chain(self, batch: PostingRows) -> tuple[dict[str, tuple[int, str]], bytes, int]:
        """The batch chained onto each account's tip, remembered or else read: the new tips,
        the rows' COPY data and their count. A gap after a remembered tip may only mean another
        writer added rows since: the table's tips decide."""
        accounts = set(batch.accounts())
        tips = {a: tip for a in accounts if (tip := self._tips.get(a)) is not None}
        remembered = bool(tips)
        tips.update(await self._read_tips(accounts - tips.keys()))
        try:
            return tips, *chain(batch, tips)
        except LedgerGapError:
            if not remembered:
                raise
        self._tips.clear()
        tips = await self._read_tips(accounts)
        return tips, *chain(batch, tips)

    async def _read_tips(self, accounts: set[str]) -> dict[str, tuple[int, str]]:
        if not accounts:
            return {}
        # One backward index probe per account (LIMIT 1 in a LATERAL join). The obvious
        # DISTINCT ON (account) ... WHERE account = ANY(...) reads every row of every account and
        # sorts them, so its cost grew with the ledger: 335 ms against 16 ms for 2,500 accounts
        # of a 2.9M-row ledger (EXPLAIN ANALYZE, 2026-11-21).
        records = await self._db.fetch(
            "SELECT a.account, t.account_seq, t.hash FROM unnest($1::text[]) AS a(account) "
            "CROSS JOIN LATERAL (SELECT account_seq, hash FROM ledger l WHERE l.account = "
            "a.account ORDER BY account_seq DESC LIMIT 1) t", list(accounts))
        return {r["account"]: (r["account_seq"], r["hash"]) for r in records}


def chain(batch: PostingRows, tips: dict[str, tuple[int, str]]) -> tuple[bytes, int]:
    """The COPY data of the rows to append (COLUMNS), each hashed onto its account's tip in
    `tips` (account -> (sequence, hash)), which moves to each new row; postings already chained
    are skipped. Compiled (native/avro/src/sinkrows.rs): the hash is streams.ledgerchain's
    `chain_hash`, byte for byte."""
    data, rows, gap = batch.chain(tips)
    if gap is not None:
        posting_id, account, at, seq = gap
        raise LedgerGapError(f"posting {posting_id}: account {account} is at sequence {at} in the "
                             f"ledger, this posting is {seq}; refusing to chain past a gap")
    return data, rows


@dataclass
class VerifyReport:
    rows: int = 0
    accounts: int = 0
    broken_at: str | None = None  # posting_id of the first row that does not hold
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify(connection: asyncpg.Connection, fetch_rows: int = 10_000) -> VerifyReport:
    """Walk every account's chain in order: sequence, links, hashes and balances."""
    report = VerifyReport()
    account, tip = None, Tip(0, GENESIS)
    balances: dict[str, int] = {}
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        cursor = connection.cursor(
            f"SELECT {', '.join(COLUMNS)} FROM ledger ORDER BY account, account_seq",
            prefetch=fetch_rows)
        async for row in cursor:
            if row["account"] != account:
                account, tip, balances = row["account"], Tip(0, GENESIS), {}
                report.accounts += 1
            report.rows += 1
            problem = check_row(row, tip, balances)
            if problem:
                report.broken_at, report.problem = row["posting_id"], problem
                return report
            tip = Tip(row["account_seq"], row["hash"])
            balances[row["currency"]] = row["balance_after"]
    return report
