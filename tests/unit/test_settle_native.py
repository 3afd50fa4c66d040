"""The compiled settle (native/avro/src/settle.rs) against the Python one in agents/settler.py:
the same outputs, states and counters on the same credits, and the Python way wherever the
compiled one does not answer."""

from __future__ import annotations

import random

import paystream_avro
import pytest

from agents.authorizer import Codecs
from agents.batch import InputEvent, StateView
from agents.settler import DecodedCredits, Settler
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, encode_all, load_versions
from streams.errors import CodecError

NOW_MS = 1_767_225_600_000
CODECS = Codecs(*(SingleObjectCodec(load_versions(r))
                  for r in ("transaction", "decision", "posting", "credit")))
CREDIT_V1 = SingleObjectCodec(load_versions("credit"), writer_version=1)


def settlers() -> tuple[Settler, Settler]:
    """(compiled, Python)."""
    compiled = Settler(CODECS.credit, CODECS.posting, clock_ms=lambda: NOW_MS)
    python = Settler(CODECS.credit, CODECS.posting, clock_ms=lambda: NOW_MS)
    python._native = None
    return compiled, python


def traffic(seed: int) -> tuple[list[InputEvent], dict[str, AccountState]]:
    """Credit messages from several partitions, with the cases settle tells apart: accounts
    the view lacks, replayed positions, copies of credits already applied (a re-sent outbox),
    several currencies; and the states they start from."""
    rng = random.Random(seed)
    accounts = [f"acc-{n}" for n in range(40)]
    states = {}
    for name in accounts[:30]:
        state = AccountState(balances={"EUR": rng.randrange(0, 10_000)}, seq=rng.randrange(5))
        if rng.random() < 0.3:
            state.applied["credits"] = rng.randrange(0, 3) << 16
        if rng.random() < 0.5:
            state.credit_marks[f"t{rng.randrange(3)}"] = rng.randrange(0, 60)
        states[name] = state
    events, offset = [], 0
    for _ in range(25):
        records = [{"tx_id": f"tx-{rng.randrange(10**9)}", "source_account": "acc-payer",
                    "destination_account": rng.choice(accounts),
                    "amount": rng.randrange(1, 5_000), "currency": rng.choice(["EUR", "USD"]),
                    "event_time": NOW_MS - rng.randrange(10**6),
                    "origin": f"t{rng.randrange(3)}", "origin_offset": rng.randrange(0, 120)}
                   for _ in range(rng.randrange(1, 9))]
        events.append(InputEvent(rng.randrange(3), offset, b"k",
                                 encode_all(CODECS.credit, records), NOW_MS))
        offset += rng.randrange(0, 2)  # a message may share its offset's positions: replays
    return events, states


def settled(settler: Settler, events: list[InputEvent],
            states: dict[str, AccountState]) -> tuple[object, ...]:
    view = StateView({k: AccountState.decode(v.encode()) for k, v in states.items()},
                     dict.fromkeys(states, 1), {}, {})
    credits = settler.decode(events)
    result = settler.apply(credits, view)
    outputs = {p: [(m.role, m.key, m.value, m.headers) for m in ms]
               for p, ms in result.outputs.items()}
    return (sorted(credits.accounts()), sorted(credits.legacy_tx_ids()), outputs, result.dirty,
            dict(result.counters), result.tx_updates,
            {k: v.encode() for k, v in view.accounts.items()})


@pytest.mark.parametrize("seed", range(20))
def test_compiled_settle_matches_python(seed: int) -> None:
    compiled, python = settlers()
    events, states = traffic(seed)
    assert isinstance(compiled.decode(events), paystream_avro.Credits)
    assert isinstance(python.decode(events), DecodedCredits)
    mine, theirs = settled(compiled, events, states), settled(python, events, states)
    assert mine == theirs
    counters = mine[4]
    assert counters.get("credited") and counters.get("replayed") \
        and counters.get("duplicate_credit")  # every case met


def test_a_batch_with_a_credit_from_before_origins_goes_the_python_way() -> None:
    compiled, _ = settlers()
    old = CREDIT_V1.encode({"tx_id": "old", "source_account": "a", "destination_account": "b",
                            "amount": 5, "currency": "EUR", "event_time": NOW_MS})
    new = CODECS.credit.encode({"tx_id": "new", "source_account": "a",
                                "destination_account": "c", "amount": 5, "currency": "EUR",
                                "event_time": NOW_MS, "origin": "t0", "origin_offset": 1})
    credits = compiled.decode([InputEvent(0, 1, b"b", new + old, NOW_MS)])
    assert isinstance(credits, DecodedCredits)
    assert credits.accounts() == {"b", "c"} and credits.legacy_tx_ids() == {"old"}


def test_a_credit_that_does_not_decode_is_still_an_error() -> None:
    compiled, _ = settlers()
    good = CODECS.credit.encode({"tx_id": "x", "source_account": "a", "destination_account": "c",
                                 "amount": 5, "currency": "EUR", "event_time": NOW_MS,
                                 "origin": "t0", "origin_offset": 1})
    with pytest.raises(CodecError, match="credits p2@9"):
        compiled.decode([InputEvent(2, 9, b"c", good + good[:-3], NOW_MS)])


def test_a_credit_of_no_amount_is_refused_as_in_python() -> None:
    compiled, python = settlers()
    record = {"tx_id": "z", "source_account": "a", "destination_account": "c", "amount": 0,
              "currency": "EUR", "event_time": NOW_MS, "origin": "t0", "origin_offset": 1}
    for settler in (compiled, python):
        view = StateView({}, {}, {}, {})
        credits = settler.decode([InputEvent(0, 0, b"c", CODECS.credit.encode(record), NOW_MS)])
        with pytest.raises(AssertionError, match="must be positive, got 0 for z"):
            settler.apply(credits, view)
