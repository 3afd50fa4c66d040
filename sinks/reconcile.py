"""The sinks agree with the topics: ledger, reporting and notifications, checked from the stores.

- ledger: exactly the postings' ids; per account and currency the signed sum of its rows equals
  the account's balance; debits equal credits per currency;
- reporting: exactly the decisions' tx_ids; the minute, hour and day rollups add up to the rows;
- notifications: every event the decisions and postings imply for a partner (by the kinds it
  subscribed to) has exactly one outcome there, delivered or dead-lettered, and no other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
from redis.asyncio import Redis

from sinks.webhooks import Partner
from streams.findings import Findings
from streams.notifications import for_partner, keys, notifications_of


def _compare_ids(found: Findings, name: str, expected: set[str], stored: set[str]) -> None:
    for missing in sorted(expected - stored):
        found.problem(f"{name}_missing", missing)
    for extra in sorted(stored - expected):
        found.problem(f"{name}_unexpected", extra)


async def check_ledger(db: asyncpg.Connection, postings: list[dict[str, Any]],
                       balances: dict[str, dict[str, int]]) -> Findings:
    """`balances`: account -> currency -> balance, as the account state holds them."""
    found = Findings()
    stored = {r["posting_id"] for r in await db.fetch("SELECT posting_id FROM ledger")}
    found.counts["ledger_rows"] = len(stored)
    _compare_ids(found, "ledger_row", {p["posting_id"] for p in postings}, stored)
    sums = await db.fetch("SELECT account, currency, sum(CASE direction WHEN 'CREDIT' THEN amount "
                          "ELSE -amount END) AS net FROM ledger GROUP BY account, currency")
    for row in sums:
        balance = balances.get(row["account"], {}).get(row["currency"].strip(), 0)
        if balance != row["net"]:
            found.problem("ledger_sum_not_balance",
                          f"{row['account']} {row['currency']}: ledger {row['net']}, balance {balance}")
    totals = await db.fetch("SELECT currency, sum(amount) FILTER (WHERE direction = 'DEBIT') AS d, "
                            "sum(amount) FILTER (WHERE direction = 'CREDIT') AS c "
                            "FROM ledger GROUP BY currency")
    for row in totals:
        if (row["d"] or 0) != (row["c"] or 0):
            found.problem("ledger_unbalanced_currency",
                          f"{row['currency']}: debits {row['d']} credits {row['c']}")
    return found


async def check_reporting(db: asyncpg.Connection, decisions: list[dict[str, Any]]) -> Findings:
    found = Findings()
    stored = {r["tx_id"] for r in await db.fetch("SELECT tx_id FROM report_transactions")}
    found.counts["reporting_rows"] = len(stored)
    _compare_ids(found, "reporting_row", {d["tx_id"] for d in decisions}, stored)
    for table in ("report_rollup_minute", "report_rollup_hour", "report_rollup_day"):
        counted = await db.fetchval(f"SELECT coalesce(sum(tx_count), 0) FROM {table}")
        if counted != len(stored):
            found.problem("rollup_count_mismatch", f"{table}: {counted} counted, {len(stored)} rows")
    return found


async def check_notifications(redis: Redis, prefix: str, decisions: Iterable[dict[str, Any]],
                              postings: Iterable[dict[str, Any]],
                              partners: list[Partner],
                              payout_results: Iterable[dict[str, Any]] = ()) -> Findings:
    found = Findings()
    names = keys(prefix)
    expected = {e["notification_id"]: e for role, records in (("decisions", decisions),
                                                              ("postings", postings),
                                                              ("payout_results", payout_results))
                for record in records for e in notifications_of(role, record)}
    found.counts["notifications"] = len(expected)
    for partner in partners:
        # redis-py types its asyncio hash commands as sync-or-async.
        recorded = await redis.hkeys(names["outcomes"] + partner.partner_id)  # type: ignore[misc]
        outcomes = {k.decode() for k in recorded}
        wanted = {i for i, e in expected.items()
                  if for_partner(e, partner.partner_id, partner.kinds)}
        for missing in sorted(wanted - outcomes):
            found.problem("notification_not_delivered_nor_dead", f"{missing} to {partner.partner_id}")
        for extra in sorted(outcomes - wanted):
            found.problem("notification_unexpected", f"{extra} to {partner.partner_id}")
        found.counts["notification_deliveries"] += len(outcomes & wanted)
    found.counts["notifications_dead_lettered"] = await redis.xlen(names["dead"])
    return found
