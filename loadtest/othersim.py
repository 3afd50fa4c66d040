"""A second, independent traffic simulator: card payments at terminals, fraud of other kinds.

`paystream train --transactions --labels` must work on data that does not come from paystream's
own generator (streams/generator). This one is designed differently on purpose: customers and
terminals are points on a map and a customer pays at terminals near home; there are no
devices, IPs or channels beyond POS; fraud is what card networks see:
  - amount:      a payment over a fixed ceiling is fraud (an easy baseline),
  - terminal:    a terminal is compromised for `--terminal-days`: every payment there is fraud,
  - card:        a card is compromised for `--card-days`: a third of its payments are large
                 fraudulent ones mixed with its owner's ordinary ones.
Labels (`tx_id,is_fraud,reported_at,scenario`, fraud only) are reported `--label-delay-days`
after the payment, as chargebacks are.

    python -m loadtest.othersim --days 60 --customers 2000 --terminals 5000 --out /tmp/other
    paystream train --transactions /tmp/other/transactions.jsonl --labels /tmp/other/labels.csv
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DAY_MS = 86_400_000
START_MS = 1_775_000_000_000  # 2026-03-31, a fixed origin: same seed, same file


@dataclass(frozen=True)
class SimConfig:
    days: int = 60
    customers: int = 2_000
    terminals: int = 5_000
    radius: float = 5.0
    ceiling_eur: float = 220.0
    terminals_compromised_per_day: int = 2
    terminal_days: int = 28
    cards_compromised_per_day: int = 3
    card_days: int = 14
    label_delay_days: float = 7.0
    seed: int = 0


def simulate(config: SimConfig) -> tuple[list[dict], list[dict]]:
    """(transactions as produce --input JSON objects, labels) in event-time order."""
    rng = np.random.default_rng(config.seed)
    home = rng.uniform(0, 100, (config.customers, 2))
    spend = rng.uniform(5, 100, config.customers)
    rate = rng.uniform(0, 4, config.customers)
    sites = rng.uniform(0, 100, (config.terminals, 2))
    nearby = []
    for point in home:
        distance = np.hypot(*(sites - point).T)
        close = np.flatnonzero(distance < config.radius)
        nearby.append(close if len(close) else np.array([int(distance.argmin())]))
    terminal_until = np.full(config.terminals, -1)
    card_until = np.full(config.customers, -1)
    txs: list[Any] = []
    labels: list[Any] = []
    for day in range(config.days):
        terminal_until[rng.choice(config.terminals, config.terminals_compromised_per_day,
                                  replace=False)] = day + config.terminal_days
        card_until[rng.choice(config.customers, config.cards_compromised_per_day,
                              replace=False)] = day + config.card_days
        for customer in range(config.customers):
            for _ in range(rng.poisson(rate[customer])):
                second = int(rng.normal(43_200, 20_000))
                if not 0 <= second < 86_400:
                    continue
                amount = rng.normal(spend[customer], spend[customer] / 2)
                if amount <= 0:
                    amount = rng.uniform(0, 2 * spend[customer])
                terminal = int(rng.choice(nearby[customer]))
                scenario = None
                if card_until[customer] >= day and rng.random() < 1 / 3:
                    amount, scenario = amount * 5, "card"
                if terminal_until[terminal] >= day:
                    scenario = "terminal"
                if amount > config.ceiling_eur:
                    scenario = scenario or "amount"
                at = START_MS + day * DAY_MS + second * 1000
                tx_id = f"o{config.seed}-{len(txs):08d}"
                txs.append({"tx_id": tx_id, "type": "PAYMENT", "source_account": f"card-{customer}",
                            "destination_account": f"term-{terminal}", "merchant_id": f"term-{terminal}",
                            "amount": max(1, round(amount * 100)), "currency": "EUR",
                            "event_time": at, "channel": "POS", "country": "FR"})
                if scenario:
                    labels.append({"tx_id": tx_id, "is_fraud": 1, "scenario": scenario,
                                   "reported_at": at + int(config.label_delay_days * DAY_MS)})
    txs.sort(key=lambda t: t["event_time"])
    return txs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in vars(SimConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--out", type=Path, required=True, help="Folder for the two files.")
    args = parser.parse_args()
    config = SimConfig(**{k: getattr(args, k) for k in vars(SimConfig())})
    txs, labels = simulate(config)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "transactions.jsonl").open("w") as handle:
        handle.writelines(json.dumps(tx) + "\n" for tx in txs)
    with (args.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["tx_id", "is_fraud", "reported_at", "scenario"])
        writer.writeheader()
        writer.writerows(labels)
    print(f"{len(txs):,} transactions, {len(labels):,} fraud labels in {args.out}")


if __name__ == "__main__":
    main()
