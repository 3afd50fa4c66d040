import time, random, gc
from tests.unit.test_decide_native import CODECS, NOW_MS, DAY_MS, PARTITIONS
from agents.authorizer import Authorizer, triage
from agents.batch import InputEvent, StateView, BatchResult
from agents.fraud.assess import Assessment
from agents.rules import Rules
from streams.accounts import AccountState
from streams.partitioning import partition_for
from streams.records import Transaction, TransactionType, Channel
rng = random.Random(1)
txs = [Transaction(tx_id=f"tx-{i:012d}", type=TransactionType.PAYMENT, source_account=f"acc-{rng.randrange(20000):08d}", destination_account=f"acc-{rng.randrange(20000):08d}", amount=rng.randrange(1, 5000), currency="EUR", event_time=NOW_MS - 1000 + i, channel=Channel.MOBILE, country="DE", merchant_id="m-1", merchant_category="5411", device_id="d-1") for i in range(4000)]
events = [InputEvent(partition_for(t.partition_key, PARTITIONS), i, t.partition_key.encode(), CODECS.transaction.encode(t.to_record()), NOW_MS) for i, t in enumerate(txs)]
valid, dead = triage(events, CODECS.transaction, NOW_MS, DAY_MS, PARTITIONS)
auth = Authorizer(Rules(), CODECS, "transactions", DAY_MS, clock_ms=lambda: NOW_MS, partitions=PARTITIONS)
assessed = {v.tx.tx_id: Assessment("APPROVE", [], 0.1, "v1") for v in valid}
def once(mode):
    states = {v.tx.source_account: AccountState(balances={"EUR": 10**9}) for v in valid}
    accepted = [(v, states[v.tx.source_account]) for v in valid]
    view = StateView(states, dict.fromkeys(states, 1), {}, {})
    result = BatchResult()
    gc.disable()
    t0 = time.perf_counter()
    if mode == "native":
        auth._native.decide(accepted, assessed, view, result, NOW_MS, auth._one)
    else:
        for item, owner in accepted:
            auth._one(item, owner, assessed.get(item.tx.tx_id), view, result, NOW_MS)
    t = time.perf_counter() - t0
    gc.enable()
    return t / len(accepted) * 1e6
for r in range(3):
    print({m: round(min(once(m) for _ in range(5)), 2) for m in ("native", "py")})
