"""The authorize and settle logic on hand-built batches: no servers."""

from __future__ import annotations

import msgspec
import pytest

from agents.authorizer import Authorizer, Codecs, needed_accounts, triage
from agents.batch import InputEvent, StateView
from agents.rules import Limits, Lists, Rules
from agents.settler import Settler
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, load_versions
from streams.partitioning import partition_for
from streams.records import Channel, Transaction, TransactionType

NOW_MS = 1_767_225_600_000
DAY_MS = 86_400_000
CODECS = Codecs(*(SingleObjectCodec(load_versions(r))
                  for r in ("transaction", "decision", "posting", "credit")))


def tx(tx_id: str = "t1", **changes: object) -> Transaction:
    base = Transaction(tx_id=tx_id, type=TransactionType.TRANSFER, source_account="acc-1",
                       destination_account="acc-2", amount=1_000, currency="EUR",
                       event_time=NOW_MS - 1_000, channel=Channel.MOBILE, country="DE")
    return msgspec.structs.replace(base, **changes)


PARTITIONS = 12


def events(*txs: Transaction, first_offset: int = 0) -> list[InputEvent]:
    """Each transaction in its key's partition, as a murmur2 producer would put it."""
    return [InputEvent(partition_for(t.partition_key, PARTITIONS), first_offset + i,
                       t.partition_key.encode(), CODECS.transaction.encode(t.to_record()), NOW_MS)
            for i, t in enumerate(txs)]


def funded(balance: int = 10_000) -> AccountState:
    return AccountState(balances={"EUR": balance})


class World:
    """The state a real store would hold, carried from batch to batch."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.accounts: dict[str, AccountState] = {"acc-1": funded()}
        self.tx: dict[str, dict[str, str]] = {}
        self.event_time: dict[int, int] = {}
        self.authorizer = Authorizer(rules or Rules(), CODECS, "transactions", DAY_MS,
                                     clock_ms=lambda: NOW_MS, partitions=PARTITIONS)
        self.settler = Settler(CODECS.credit, CODECS.posting, clock_ms=lambda: NOW_MS)

    def view(self) -> StateView:
        copy = {k: AccountState.decode(v.encode()) for k, v in self.accounts.items()}
        return StateView(copy, dict.fromkeys(copy, 1), {k: dict(v) for k, v in self.tx.items()},
                         dict(self.event_time))

    def commit(self, view: StateView, result) -> None:  # type: ignore[no-untyped-def]
        for name in result.dirty:
            self.accounts[name] = view.accounts[name]
        for tx_id, fields in result.tx_updates.items():
            self.tx.setdefault(tx_id, {}).update(fields)
        self.event_time.update(result.partition_event_time)

    def authorize(self, batch: list[InputEvent]):  # type: ignore[no-untyped-def]
        valid, dead = triage(batch, CODECS.transaction, NOW_MS, 3_600_000, PARTITIONS)
        view = self.view()
        result = self.authorizer.apply(valid, dead, view)
        self.commit(view, result)
        return result

    def settle(self, result):  # type: ignore[no-untyped-def]
        credit_events = [InputEvent(0, i, m.key, m.value, NOW_MS)
                         for i, m in enumerate(m for ms in result.outputs.values() for m in ms
                                               if m.role == "credits")]
        view = self.view()
        settled = self.settler.apply(self.settler.decode(credit_events), view)
        self.commit(view, settled)
        return settled

    def settle_credit(self, record: dict, offset: int):  # type: ignore[no-untyped-def]
        """One credit record in a message of its own at `offset` of credits partition 0."""
        event = InputEvent(0, offset, record["destination_account"].encode(),
                           CODECS.credit.encode(record), NOW_MS)
        view = self.view()
        settled = self.settler.apply(self.settler.decode([event]), view)
        self.commit(view, settled)
        return settled


def decisions(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [CODECS.decision.decode(m.value) for ms in result.outputs.values() for m in ms
            if m.role == "decisions"]


def postings(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [CODECS.posting.decode(m.value) for ms in result.outputs.values() for m in ms
            if m.role == "postings"]


def dlq(result) -> list[dict[str, bytes]]:  # type: ignore[no-untyped-def]
    return [dict(m.headers) for ms in result.outputs.values() for m in ms if m.role == "dlq"]


def test_approved_transfer_debits_here_and_credits_in_settle() -> None:
    world = World()
    result = world.authorize(events(tx()))
    assert [d["outcome"] for d in decisions(result)] == ["APPROVE"]
    [debit_leg] = postings(result)
    assert (debit_leg["posting_id"], debit_leg["direction"], debit_leg["balance_after"],
            debit_leg["account_seq"]) == ("t1:D", "DEBIT", 9_000, 1)
    settled = world.settle(result)
    [credit_leg] = postings(settled)
    assert (credit_leg["posting_id"], credit_leg["account"], credit_leg["balance_after"]) == \
        ("t1:C", "acc-2", 1_000)
    assert world.accounts["acc-1"].balance("EUR") == 9_000
    assert world.accounts["acc-2"].balance("EUR") == 1_000


def test_insufficient_funds_declines_and_moves_nothing() -> None:
    world = World()
    result = world.authorize(events(tx(amount=10_001)))
    [decision] = decisions(result)
    assert decision["outcome"] == "DECLINE" and decision["reasons"] == ["insufficient_funds"]
    assert postings(result) == [] and world.accounts["acc-1"].balance("EUR") == 10_000


def test_rules_decline_review_and_hold() -> None:
    rules = Rules(Limits(review_amount=2_000, decline_amount=8_000),
                  Lists(block_countries=frozenset({"KP"})))
    world = World(rules)
    result = world.authorize(events(tx("big", amount=9_000), tx("mid", amount=3_000),
                                    tx("kp", country="KP")))
    outcomes = {d["tx_id"]: (d["outcome"], d["reasons"]) for d in decisions(result)}
    assert outcomes == {"big": ("DECLINE", ["rule:amount_decline"]),
                        "mid": ("REVIEW", ["rule:amount_review"]),
                        "kp": ("DECLINE", ["block:country"])}
    acc = world.accounts["acc-1"]
    assert postings(result) == []
    assert acc.balance("EUR") == 10_000 and acc.available("EUR") == 7_000
    assert list(acc.holds) == ["mid"] and world.tx["mid"]["s"] == "HELD"


def test_duplicate_is_ignored_and_conflict_is_dead_lettered() -> None:
    world = World()
    world.authorize(events(tx()))
    again = world.authorize(events(tx(), tx(amount=999), first_offset=1))
    assert again.counters["duplicate"] == 1
    [letter] = dlq(again)
    assert letter["reason"] == b"conflict" and letter["source.offset"] == b"2"
    assert decisions(again) == [] and world.accounts["acc-1"].balance("EUR") == 9_000


def test_replay_of_applied_offsets_is_skipped() -> None:
    world = World()
    batch = events(tx("a"), tx("b"))
    world.authorize(batch)
    replay = world.authorize(batch)
    assert replay.counters["replayed"] == 2 and replay.outputs == {}
    assert world.accounts["acc-1"].balance("EUR") == 8_000


def test_stale_transaction_is_dead_lettered() -> None:
    world = World()
    world.authorize(events(tx("new")))
    result = world.authorize(events(tx("old", event_time=NOW_MS - 2 * DAY_MS), first_offset=1))
    assert [h["reason"] for h in dlq(result)] == [b"stale"]


def test_undecodable_and_invalid_messages_keep_their_bytes() -> None:
    world = World()
    good = events(tx())[0]
    wrong_partition = (good.partition + 1) % PARTITIONS
    bad = [InputEvent(3, 5, b"k", b'{"json": 1}', NOW_MS),
           InputEvent(3, 6, b"k", good.value[:20], NOW_MS),
           events(tx("z", amount=0), first_offset=7)[0],
           InputEvent(good.partition, 8, None, good.value, NOW_MS),
           InputEvent(wrong_partition, 9, good.key, good.value, NOW_MS)]
    result = world.authorize(bad)
    letters = dlq(result)
    assert [h["reason"] for h in letters] == [b"not_avro", b"truncated", b"invalid:amount",
                                              b"invalid:key", b"invalid:partition"]
    values = [m.value for ms in result.outputs.values() for m in ms]
    assert values == [e.value for e in bad]


def test_deposit_and_withdrawal_use_the_partition_shard_of_the_system_account() -> None:
    world = World()
    deposit = tx("dep", type=TransactionType.DEPOSIT, source_account="sys:settlement:EUR",
                 destination_account="acc-1", amount=500)
    withdrawal = tx("wd", type=TransactionType.WITHDRAWAL, destination_account="sys:settlement:EUR",
                    amount=300)
    shard = f"sys:settlement:EUR:p{partition_for('acc-1', PARTITIONS):02d}"
    assert needed_accounts(triage(events(deposit), CODECS.transaction, NOW_MS, 0, PARTITIONS)[0]) \
        == {"acc-1", shard}
    result = world.authorize(events(deposit, withdrawal))
    legs = [(p["posting_id"], p["account"], p["direction"], p["amount"]) for p in postings(result)]
    assert legs == [("dep:D", shard, "DEBIT", 500),
                    ("dep:C", "acc-1", "CREDIT", 500),
                    ("wd:D", "acc-1", "DEBIT", 300),
                    ("wd:C", shard, "CREDIT", 300)]
    assert world.accounts["acc-1"].balance("EUR") == 10_200
    assert world.accounts[shard].balance("EUR") == -200


def test_settle_credits_once_even_when_the_credit_is_sent_twice() -> None:
    world = World()
    result = world.authorize(events(tx()))
    world.settle(result)
    again = world.settle(result)  # same credit, new offsets (offsets restart at 0 here)
    assert again.counters["replayed"] + again.counters["duplicate_credit"] == 1
    assert world.accounts["acc-2"].balance("EUR") == 1_000


def test_velocity_sends_a_burst_to_review() -> None:
    world = World(Rules(Limits(max_tx_per_minute=3.0)))
    burst = [tx(f"b{i}", amount=10, event_time=NOW_MS - 10_000 + i * 1_000) for i in range(6)]
    outcomes = [d["outcome"] for d in decisions(world.authorize(events(*burst)))]
    assert outcomes == ["APPROVE"] * 3 + ["REVIEW"] * 3


@pytest.mark.parametrize("text, key", [
    ("[limits]\nreview_amonut = 5\n", "limits.review_amonut"),
    ("[limits]\nreview_amount = -5\n", "limits.review_amount"),
    ("[limits]\nreview_amount = 10\ndecline_amount = 5\n", "limits.review_amount"),
    ("[lists]\nblock_countries = 'KP'\n", "lists.block_countries"),
    ("[thresholds]\n", "[thresholds]"),
    ("not toml = = 1", "not valid TOML"),
])
def test_bad_rules_file_names_the_key(text: str, key: str) -> None:
    from agents.rules import parse_rules
    from streams.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_rules(text, "rules.toml")


def test_shipped_rules_load() -> None:
    from agents.rules import load_rules

    assert load_rules(None).limits.review_amount == 500_000


LABELS = SingleObjectCodec(load_versions("fraud_label"))


def _labels(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [LABELS.decode(m.value) for ms in result.outputs.values() for m in ms if m.role == "labels"]


def _review_world() -> tuple[World, object]:
    from agents.reviewer import Reviewer

    world = World(Rules(Limits(review_amount=2_000, decline_amount=8_000, hold_max_age_s=60)))
    reviewer = Reviewer(SingleObjectCodec(load_versions("review")), world.authorizer,
                        LABELS, clock_ms=lambda: NOW_MS)
    world.authorize(events(tx("held", amount=3_000)))
    return world, reviewer


def _verdict(reviewer, world: World, action: str, offset: int = 0):  # type: ignore[no-untyped-def]
    codec = SingleObjectCodec(load_versions("review"))
    record = {"review_id": f"held:{action}", "tx_id": "held", "source_account": "acc-1",
              "action": action, "reviewer": "alice", "decided_at": NOW_MS}
    view = world.view()
    result = reviewer.apply([(InputEvent(partition_for("acc-1", PARTITIONS), offset, b"acc-1",
                                         codec.encode(record), NOW_MS),
                              record)], view)
    world.commit(view, result)
    return result


def test_review_then_approve_posts_the_held_transaction() -> None:
    world, reviewer = _review_world()
    result = _verdict(reviewer, world, "APPROVE")
    assert [p["posting_id"] for p in postings(result)] == ["held:D"]
    assert [m.role for ms in result.outputs.values() for m in ms] == ["postings", "labels", "credits"]
    assert _labels(result) == [{"tx_id": "held", "is_fraud": False, "source": "REVIEW",
                                "reported_at": NOW_MS, "note": "review held:APPROVE by alice",
                                # the reporting store knows the transaction: the label need not
                                "source_account": None, "destination_account": None,
                                "event_time": None, "device_id": None}]
    acc = world.accounts["acc-1"]
    assert acc.holds == {} and acc.balance("EUR") == 7_000
    assert world.tx["held"]["s"] == "REVIEW_APPROVED"
    world.settle(result)
    assert world.accounts["acc-2"].balance("EUR") == 3_000
    again = _verdict(reviewer, world, "APPROVE", offset=1)  # a second verdict changes nothing
    assert again.counters["review_without_hold"] == 1 and postings(again) == []
    assert _labels(again) == []  # only a verdict applied is a label


def test_review_then_decline_releases_the_hold() -> None:
    world, reviewer = _review_world()
    result = _verdict(reviewer, world, "DECLINE")
    assert [label["is_fraud"] for label in _labels(result)] == [True]
    assert [m.role for ms in result.outputs.values() for m in ms] == ["labels"]  # no money moves
    acc = world.accounts["acc-1"]
    assert acc.holds == {} and acc.available("EUR") == 10_000
    assert world.tx["held"]["s"] == "REVIEW_DECLINED"


def test_expired_hold_is_released_and_a_fresh_one_is_not() -> None:
    from agents.reviewer import Reviewer

    world, _ = _review_world()
    later = Reviewer(SingleObjectCodec(load_versions("review")), world.authorizer, LABELS,
                     clock_ms=lambda: NOW_MS + 61_000)
    too_early = Reviewer(SingleObjectCodec(load_versions("review")), world.authorizer, LABELS,
                         clock_ms=lambda: NOW_MS + 59_000)
    view = world.view()
    p = partition_for("acc-1", PARTITIONS)
    early = too_early.expire(p, [("acc-1", "held")], view)
    assert early.counters["hold_expired"] == 0
    assert early.holds == []  # a hold not yet due keeps its index entry, or it would never expire
    view = world.view()
    result = later.expire(p, [("acc-1", "held")], view)
    world.commit(view, result)
    assert result.counters["hold_expired"] == 1
    assert world.accounts["acc-1"].holds == {} and world.tx["held"]["s"] == "EXPIRED"


def test_credits_to_one_partition_travel_in_one_message_and_apply_once() -> None:
    world = World()
    world.accounts["acc-1"] = funded(100_000)
    # Destinations that share a partition, and one that does not.
    target = partition_for("acc-2", PARTITIONS)
    same = [f"acc-{n}" for n in range(2, 400) if partition_for(f"acc-{n}", PARTITIONS) == target]
    other = next(f"acc-{n}" for n in range(2, 400)
                 if partition_for(f"acc-{n}", PARTITIONS) != target)
    payees = [same[0], same[1], same[0], other]
    result = world.authorize(events(*(tx(f"t{i}", destination_account=d, amount=100 + i)
                                      for i, d in enumerate(payees))))
    messages = [m for ms in result.outputs.values() for m in ms if m.role == "credits"]
    assert sorted(len(CODECS.credit.decode_all(m.value)) for m in messages) == [1, 3]
    assert {partition_for(m.key, PARTITIONS) for m in messages} == {target,
                                                                   partition_for(other, PARTITIONS)}
    settled = world.settle(result)
    assert settled.counters["credited"] == 4
    assert world.accounts[same[0]].balance("EUR") == 100 + 102  # two credits to one account
    assert world.accounts[same[1]].balance("EUR") == 101
    # The same messages consumed again (a replay before the offsets were committed): nothing.
    credit_events = [InputEvent(0, i, m.key, m.value, NOW_MS) for i, m in enumerate(messages)]
    again = world.settler.apply(world.settler.decode(credit_events), world.view())
    assert again.counters["credited"] == 0
    assert again.counters["replayed"] == 4


def credit_record(tx_id: str, amount: int, origin: str, origin_offset: int) -> dict:
    """A credit from acc-1 to acc-2, as authorize writes it."""
    return {"tx_id": tx_id, "source_account": "acc-1", "destination_account": "acc-2",
            "amount": amount, "currency": "EUR", "event_time": NOW_MS - 1_000,
            "origin": origin, "origin_offset": origin_offset}


def test_a_single_credit_message_from_before_batching_still_settles() -> None:
    world = World()
    record = credit_record("old", 500, "t0", 7)
    settled = world.settle_credit(record, offset=3)
    assert settled.counters["credited"] == 1
    assert world.accounts["acc-2"].balance("EUR") == 500


def test_a_credit_with_its_origin_is_deduplicated_without_the_transaction_record() -> None:
    # The origin mark in the destination's own state is the dedupe: no tx record is needed (the
    # pipeline reads none for these) and none is written, and a copy of the credit at a new
    # offset (an outbox re-sent after a crash) is still refused.
    world = World()
    record = credit_record("t9", 700, "transactions:3", 41)
    settled = world.settle_credit(record, offset=10)
    assert settled.counters["credited"] == 1 and settled.tx_updates == {}
    again = world.settle_credit(record, offset=11)
    assert again.counters["duplicate_credit"] == 1 and again.counters["credited"] == 0
    assert world.accounts["acc-2"].balance("EUR") == 700


def test_the_body_hash_is_the_fingerprint_stored_before_whichever_version_wrote_the_body() -> None:
    """Dedupe records in Redis hold fingerprints: the one a retry is hashed to must not change
    with how it is computed, nor with the schema version its producer wrote."""
    import hashlib

    import msgpack

    from agents.authorizer import body_hash
    from streams.records import Payout

    def as_before(t: Transaction) -> str:  # how the fingerprint was made up to 2026-12-01
        record = t.to_record()
        if record["payout"] is None:
            del record["payout"]
        return hashlib.blake2b(msgpack.packb(record), digest_size=12).hexdigest()

    plain = tx("t-hash", merchant_id="m-1", ip="10.0.0.1", metadata={"k": "v"})
    payout = tx("t-payout", type=TransactionType.PAYOUT, destination_account="benef-1",
                payout=Payout("send-1", "recv-1", "Ana", 9_000, "MXN", "18.1", "q-1"))
    versions = load_versions("transaction")
    for t in (plain, payout):
        writers = versions if t.payout is None else versions[-1:]  # payouts began with v3
        for k in range(1, len(writers) + 1):
            data = SingleObjectCodec(versions, writer_version=writers[k - 1].version).encode(
                t.to_record())
            assert body_hash(CODECS.transaction.decode(data)) == as_before(t)
    assert as_before(plain) == "9cd0771bcc998b4db1f952fb"  # pinned: a change would strand them
    # A producer's own registered schema may order the same fields otherwise (payout's too):
    # the record decodes in its order, the fingerprint must not follow it.
    import io
    import json

    import fastavro

    from streams.codec import SchemaVersion, _read_body

    reader = versions[-1]
    reordered = json.loads(reader.text)
    reordered["fields"] = list(reversed(reordered["fields"]))
    for field in reordered["fields"]:
        if field["name"] == "payout":
            field["type"][1]["fields"] = list(reversed(field["type"][1]["fields"]))
    writer = SchemaVersion.from_text(reader.record, 0, json.dumps(reordered))
    for t in (plain, payout):
        body = io.BytesIO()
        fastavro.schemaless_writer(body, writer.parsed, t.to_record())
        record = _read_body(body.getvalue(), 0, writer, reader)
        assert next(iter(record)) == "payout"  # the writer's order, not the reader's
        assert body_hash(record) == as_before(t)
