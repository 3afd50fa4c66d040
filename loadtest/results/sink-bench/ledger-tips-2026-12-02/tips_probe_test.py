import time, random
import pytest
from typing import Any
import asyncpg
from sinks.ledger import LedgerWriter
from streams.accounts import AccountState
from agents.postings import credit, debit
from tests.integration.test_sinks import with_db, T0

@pytest.mark.parametrize('remember', [True, False])
def test_probe(db_settings, remember) -> None:
    rng = random.Random(5)
    states = {f"acc-{i:05d}": AccountState() for i in range(10_000)}
    names = list(states)
    batches = []
    for b in range(30):
        batch = []
        for i in range(2500):
            at = T0 + b * 10_000 + i
            src, dst = rng.choice(names), rng.choice(names)
            batch.append(credit(states[src], src, f"t{b}-{i}", 100, "EUR", at, at))
            batch.append(credit(states[dst], dst, f"u{b}-{i}", 100, "EUR", at, at))
        batches.append(batch)

    async def work(db: asyncpg.Connection) -> Any:
        pid = db.get_server_pid()
        def srv():
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / 100
        w = LedgerWriter(db)
        if not remember:
            w._tips = type('D', (dict,), {'update': lambda self, x: None})()
        reads = []
        orig = w._read_tips
        async def counted(accounts):
            reads.append(len(accounts)); return await orig(accounts)
        w._read_tips = counted
        for half, rng_ in (("first", batches[:15]), ("second", batches[15:])):
            s0, c0 = srv(), time.process_time()
            for b in rng_:
                await w.write(b)
            print(remember, half, f"server {(srv()-s0)/75000*1e6:.2f} client {(time.process_time()-c0)/75000*1e6:.2f} µs/posting", sum(reads)); reads.clear()
        w._tips.clear(); w._tips = type("D", (dict,), {"update": lambda self, x: None})()
    with_db(db_settings, work)
