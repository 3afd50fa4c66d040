"""The two compiled slices alone, in this process: the triage of a batch of generated
transactions (Python's `_triage_one` per event against the compiled `triage`), and one decision
and one posting made as a dict and encoded against made in compiled code. Best of 7 (triage) or
5 (the encodings) by process time, µs per item.

    .venv/bin/python loadtest/results/compiled-2026-12-06/microbench.py
"""

from __future__ import annotations

import time
import timeit

from agents.authorizer import _triage_one, triage
from agents.batch import InputEvent
from agents.fraud.assess import Assessment
from agents.outputs import OutputEncoder, decision_record
from agents.postings import DEBIT, DEBIT_LEG, posting_record
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, load_versions
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.partitioning import partition_for

START_MS = 1_767_225_600_000
NOW_MS = START_MS + 400 * 86_400_000
codec = SingleObjectCodec(load_versions("transaction"))
txs = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=3, accounts=20_000,
                                                      start_ms=START_MS)).generate(20_000)]
events = [InputEvent(partition_for(t.partition_key, 12), i, t.partition_key.encode(),
                     codec.encode(t.to_record()), 0) for i, t in enumerate(txs)]


def best_us(run, items: int, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times) * 1e6 / items


python = best_us(lambda: [_triage_one(e, codec, NOW_MS, 3_600_000, 12) for e in events], len(events))
compiled = best_us(lambda: triage(events, codec, NOW_MS, 3_600_000, 12), len(events))
print(f"triage, µs per transaction: Python {python:.2f}, compiled {compiled:.2f}")

decisions = SingleObjectCodec(load_versions("decision"))
postings = SingleObjectCodec(load_versions("posting"))
native = OutputEncoder(decisions, postings)
tx, event = txs[0], events[0]
scored = Assessment("APPROVE", [], 0.1, "fraud-v0001")
state = AccountState()
n = 200_000


def per_call(fn) -> float:
    return min(timeit.repeat(fn, number=n, repeat=5)) * 1e6 / n


print("decision, µs: dict + encode {:.2f}, compiled {:.2f}".format(
    per_call(lambda: decisions.encode(decision_record(tx, event, "APPROVE", [], scored, 1))),
    per_call(lambda: native.decision(tx, event, "APPROVE", [], scored, 1))))
print("posting, µs: dict + encode {:.2f}, compiled {:.2f}".format(
    per_call(lambda: postings.encode(posting_record(state, leg=DEBIT_LEG, tx_id="t-1", account="acc-1",
                                          currency="EUR", direction=DEBIT, amount=5,
                                          event_time=1, now_ms=2))),
    per_call(lambda: native.posting(state, "acc-1", "t-1", 5, "EUR", 1, 2, direction=DEBIT,
                                    leg=DEBIT_LEG))))
