"""Payout traffic for the demo and the tests: funded senders, one quote, payouts that honour it.

    python -m loadtest.payouts --count 300 --out .local/demo/x   # writes quotes.toml, payouts.jsonl

Senders `sender-<n>` are funded by a deposit each, then pay out through the receive partner
`mpesa-ke` on behalf of the send partner `wallet-fr`, EUR debited and KES paid at quote `q-1`
(140.25), each payout stating exactly what the quote gives (streams/quotes.py).
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from pathlib import Path

from streams.jsonlines import to_line
from streams.quotes import Quote
from streams.records import Channel, Payout, Transaction, TransactionType

RATE = Decimal("140.25")
FUNDING = 10_000_000  # 100,000.00 EUR per sender


def quote(now_ms: int, quote_id: str = "q-1") -> Quote:
    return Quote(quote_id, "EUR", "KES", RATE, now_ms + 86_400_000)


def quotes_file(q: Quote) -> str:
    return (f'version = "demo-{q.expires_at_ms}"\n[[quote]]\nid = "{q.quote_id}"\n'
            f'sell = "{q.sell}"\nbuy = "{q.buy}"\nrate = "{q.rate}"\nexpires_at = {q.expires_at_ms}\n')


def amount_of(i: int) -> int:
    return 1_000 + (i * 37) % 4_000


def traffic(count: int, senders: int, q: Quote, now_ms: int) -> list[Transaction]:
    """The senders' deposits, then `count` payouts po-0, po-1, ... (sender i % senders)."""
    def tx(tx_id: str, kind: TransactionType, source: str, destination: str, amount: int,
           payout: Payout | None = None) -> Transaction:
        return Transaction(tx_id, kind, source, destination, amount, "EUR", now_ms, Channel.API,
                           "FR", payout=payout)

    funding = [tx(f"fund-{s}", TransactionType.DEPOSIT, "sys:settlement:EUR", f"sender-{s}",
                  FUNDING) for s in range(senders)]
    return funding + [
        tx(f"po-{i}", TransactionType.PAYOUT, f"sender-{i % senders}", "sys:partner:mpesa-ke",
           amount_of(i), Payout("wallet-fr", "mpesa-ke", f"ben-{i}", q.pays(amount_of(i)),
                                "KES", str(q.rate), q.quote_id))
        for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    now_ms = time.time_ns() // 1_000_000
    q = quote(now_ms)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quotes.toml").write_text(quotes_file(q))
    with (args.out / "payouts.jsonl").open("w") as out:
        for tx in traffic(args.count, args.senders, q, now_ms - 1_000):
            out.write(to_line(tx) + "\n")


if __name__ == "__main__":
    main()
