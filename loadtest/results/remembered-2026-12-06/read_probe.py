"""A worker's side of the state read for 4,000 of 50,000 accounts, in one process, no server:
`old` decodes MGET's values (agents/store.py _fill_accounts); `new` is the reverted
remembered-accounts read (b2c78f3): the accounts taken out of the store's memory (version and
encoded state, popped), decoded, and put back as the commit did. Run from the repo root."""
import random
import time

from agents.batch import StateView
from agents.store import _fill_accounts
from streams.accounts import AccountState, pack_account

random.seed(1)
N = 50000
states = {f"acc-{i:08d}": AccountState(
    {"EUR": random.randint(0, 10**7)}, {}, random.randint(1, 500),
    {"transactions": random.randint(0, 10**6), "credits": random.randint(0, 10**6)},
    bytes(40), {"t3": 5}).encode() for i in range(N)}
names = sorted(random.sample(list(states), 4000))
values = [pack_account(7, states[n]) for n in names]
written = {n: (7, b) for n, b in states.items()}


def old() -> None:
    view = StateView({}, {}, {}, {}, strict=True)
    _fill_accounts(view, names, values)


def new() -> None:
    view = StateView({}, {}, {}, {}, strict=True)
    accounts = set(names)
    for name in accounts & written.keys():
        view.versions[name], blob = written.pop(name)
        view.accounts[name] = AccountState.decode(blob)
    sorted(accounts - view.versions.keys())
    for name in names:
        written[name] = (8, states[name])


for f in (old, new, old, new, old, new):
    t = time.process_time()
    for _ in range(50):
        f()
    print(f.__name__, round((time.process_time() - t) / 50 / 4000 * 1e6, 3), "µs/account")
# 2026-12-06 20:37 UTC: old 3.5 / 3.874 / 3.645, new 5.518 / 5.449 / 4.098 µs/account
