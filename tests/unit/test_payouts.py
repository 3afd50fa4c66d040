"""Payouts, the first part (docs/send-money.md): the PAYOUT record, quotes, the hold at authorize."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest

from agents.authorizer import Authorizer
from agents.batch import InputEvent
from agents.reviewer import Reviewer
from agents.rules import Limits, Rules
from streams.codec import SingleObjectCodec, load_versions
from streams.errors import ConfigError, ValidationError
from streams.jsonlines import parse_line, to_line
from streams.partitioning import partition_for
from streams.quotes import QUOTE_EXPIRED, QUOTE_MISMATCH, QUOTE_UNKNOWN, load_quotes
from streams.records import Payout, TransactionType
from streams.validation import validate
from tests.unit.test_authorize import (
    CODECS,
    DAY_MS,
    NOW_MS,
    PARTITIONS,
    World,
    decisions,
    events,
    postings,
    tx,
)

QUOTES = f"""
version = "2026-12-01.1"
[[quote]]
id = "q-eur-kes"
sell = "EUR"
buy = "KES"
rate = "140.25"
expires_at = {NOW_MS + 600_000}
[[quote]]
id = "q-eur-jpy"
sell = "EUR"
buy = "JPY"
rate = "161.5"
expires_at = "2026-01-01T00:30:00Z"
[[quote]]
id = "q-old"
sell = "EUR"
buy = "KES"
rate = "139"
expires_at = {NOW_MS - 10_000}  # before the payouts' event time
"""


def payout(tx_id: str = "po-1", amount: int = 1_000, paid: int = 140_250, quote: str = "q-eur-kes",
           **changes: object):  # type: ignore[no-untyped-def]
    details = Payout("wallet-fr", "mpesa-ke", "ben-254700000001", paid, "KES", "140.25", quote)
    return tx(tx_id, type=TransactionType.PAYOUT, destination_account="sys:partner:mpesa-ke",
              amount=amount, payout=msgspec.structs.replace(details, **changes))


@pytest.fixture
def quotes_file(tmp_path: Path) -> Path:
    path = tmp_path / "quotes.toml"
    path.write_text(QUOTES)
    return path


def world_with_quotes(path: Path, rules: Rules | None = None) -> World:
    world = World(rules)
    world.authorizer = Authorizer(rules or Rules(), CODECS, "transactions", DAY_MS,
                                  clock_ms=lambda: NOW_MS, partitions=PARTITIONS,
                                  quotes=load_quotes(path))
    return world


def test_a_quote_pays_the_debited_amount_at_its_rate_in_the_payout_currencys_minor_units(
        quotes_file: Path) -> None:
    table = load_quotes(quotes_file)
    assert table.version == "2026-12-01.1"
    assert table.quotes["q-eur-kes"].pays(1_000) == 140_250       # 10.00 EUR -> 1,402.50 KES
    assert table.quotes["q-eur-jpy"].pays(1_000) == 1_615         # JPY has no minor unit
    assert table.quotes["q-eur-jpy"].pays(1) == 2                 # 1.615 JPY: half-even up
    assert table.quotes["q-eur-jpy"].expires_at_ms == 1_767_227_400_000


def test_a_bad_quotes_file_names_the_quote_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    for text, expected in (
            ('[[quote]]\nid = "a"', "needs a version"),
            ('version = "1"\n[[quote]]\nid = "a"\nsell = "EUR"\nbuy = "KES"\nexpires_at = 1790000000000',
             "quote 1: rate"),
            ('version = "1"\n[[quote]]\nid = "a"\nsell = "EUR"\nbuy = "XYZ"\nrate = "1"\n'
             'expires_at = 1790000000000', "quote 1: buy"),
            ('version = "1"\n[[quote]]\nid = "a"\nsell = "EUR"\nbuy = "KES"\nrate = "1"', "missing expires_at"),
            ('version = "1"\n[[quote]]\nid = "a"\nsell = "EUR"\nbuy = "KES"\nrate = "-2"\n'
             'expires_at = 1790000000000', "positive decimal")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=expected):
            load_quotes(path)


def test_a_payout_is_validated_as_one() -> None:
    validate(payout(), NOW_MS, 3_600_000)
    for bad, field in ((payout(receive_partner="other"), "destination_account"),
                       (payout(fx_rate="abc"), "payout.fx_rate"),
                       (payout(payout_currency="KESS"), "payout.payout_currency"),
                       (payout(payout_amount=0), "payout.payout_amount"),
                       (msgspec.structs.replace(payout(), payout=None), "payout"),
                       (msgspec.structs.replace(tx(), payout=payout().payout), "payout"),
                       (msgspec.structs.replace(payout(), source_account="sys:settlement:EUR"),
                        "source_account")):
        with pytest.raises(ValidationError) as caught:
            validate(bad, NOW_MS, 3_600_000)
        assert caught.value.field == field


def test_a_payout_travels_in_avro_and_json_lines() -> None:
    record = payout().to_record()
    assert CODECS.transaction.decode(CODECS.transaction.encode(record)) == record
    assert parse_line(to_line(payout())) == payout()
    assert "payout" not in to_line(tx())  # only payouts carry the field
    with pytest.raises(ValidationError, match=r"payout\.payout_amount"):
        parse_line(to_line(payout()).replace('"payout_amount":140250', '"payout_amount":1.5'))


def test_a_payout_is_held_until_its_partner_answers(quotes_file: Path) -> None:
    world = world_with_quotes(quotes_file, Rules(limits=Limits(payout_deadline_s=900)))
    result = world.authorize(events(payout()))
    [decision] = decisions(result)
    assert (decision["outcome"], decision["type"]) == ("PENDING", "PAYOUT")
    assert postings(result) == []  # nothing posted until the partner says SUCCESS
    hold = world.accounts["acc-1"].holds["po-1"]
    assert (hold.amount, hold.destination, hold.expires_at_ms) == (1_000, "sys:partner:mpesa-ke",
                                                                  NOW_MS + 900_000)
    assert world.accounts["acc-1"].available("EUR") == 9_000
    assert world.tx["po-1"]["s"] == "HELD" and world.tx["po-1"]["a"] == "acc-1"
    assert [h.expires_at_ms for h in result.holds] == [NOW_MS + 900_000]


def test_a_payout_whose_quote_does_not_hold_is_declined_with_why(quotes_file: Path) -> None:
    world = world_with_quotes(quotes_file)
    batch = [payout("po-unknown", quote="q-none"), payout("po-old", quote="q-old", fx_rate="139",
                                                          payout_amount=139_000),
             payout("po-price", payout_amount=140_251), payout("po-rate", fx_rate="140.2500001"),
             payout("po-funds", amount=20_000, payout_amount=2_805_000)]
    outcomes = {d["tx_id"]: (d["outcome"], d["reasons"][0]) for d in decisions(world.authorize(events(*batch)))}
    assert outcomes == {"po-unknown": ("DECLINE", QUOTE_UNKNOWN), "po-old": ("DECLINE", QUOTE_EXPIRED),
                        "po-price": ("DECLINE", QUOTE_MISMATCH), "po-rate": ("DECLINE", QUOTE_MISMATCH),
                        "po-funds": ("DECLINE", "insufficient_funds")}
    assert world.accounts["acc-1"].holds == {}
    assert decisions(World().authorize(events(payout())))[0]["reasons"][0] == QUOTE_UNKNOWN  # no table


def test_a_payout_the_checks_doubt_is_declined_not_parked_for_review(quotes_file: Path) -> None:
    world = world_with_quotes(quotes_file, Rules(limits=Limits(review_amount=500)))
    [decision] = decisions(world.authorize(events(payout())))
    assert decision["outcome"] == "DECLINE" and decision["reasons"][0] == "payout:review"


def test_a_reviewer_cannot_post_a_payout_and_an_unanswered_one_expires(quotes_file: Path) -> None:
    labels = SingleObjectCodec(load_versions("fraud_label"))
    world = world_with_quotes(quotes_file)
    world.authorize(events(payout()))
    codec = SingleObjectCodec(load_versions("review"))
    record = {"review_id": "r1", "tx_id": "po-1", "source_account": "acc-1", "action": "APPROVE",
              "reviewer": "mallory", "decided_at": NOW_MS}
    reviewer = Reviewer(codec, world.authorizer, labels, clock_ms=lambda: NOW_MS)
    p = partition_for("acc-1", PARTITIONS)
    view = world.view()
    result = reviewer.apply([(InputEvent(p, 0, b"acc-1", codec.encode(record), NOW_MS), record)], view)
    world.commit(view, result)
    assert result.counters["review_of_payout_refused"] == 1 and postings(result) == []
    assert "po-1" in world.accounts["acc-1"].holds
    late = Reviewer(codec, world.authorizer, labels, clock_ms=lambda: NOW_MS + 3_601_000)
    view = world.view()
    expired = late.expire(p, [("acc-1", "po-1")], view)
    world.commit(view, expired)
    assert world.accounts["acc-1"].holds == {} and world.tx["po-1"]["s"] == "EXPIRED"
    assert world.accounts["acc-1"].available("EUR") == 10_000


def test_a_running_worker_follows_a_new_quotes_file_and_keeps_the_last_good_one(
        quotes_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    from streams.quotes import QuoteFile

    now = [0.0]
    source = QuoteFile(quotes_file, check_s=2.0, clock=lambda: now[0])
    assert source.table().version == "2026-12-01.1"
    quotes_file.write_text(QUOTES.replace("2026-12-01.1", "2026-12-01.2") + "\n# changed\n")
    now[0] = 1.0
    assert source.table().version == "2026-12-01.1"  # not looked at yet
    now[0] = 2.5
    assert source.table().version == "2026-12-01.2"
    quotes_file.write_text("version = \n")  # a broken edit
    now[0] = 5.0
    assert source.table().version == "2026-12-01.2" and "keeping version 2026-12-01.2" in caplog.text


# --- settling on the partner's word (agents/payouts.py) ----------------------------------------

OUTCOMES = SingleObjectCodec(load_versions("payout_outcome"))
RESULTS = SingleObjectCodec(load_versions("payout_result"))


class Partner:
    """A world with one held payout and the settler its partner's answers go to."""

    def __init__(self, quotes_file: Path, held: object = None) -> None:
        from agents.payouts import PayoutSettler

        self.world = world_with_quotes(quotes_file)
        self.world.authorize(events(held or payout()))
        self.settler = PayoutSettler(OUTCOMES, RESULTS, CODECS.posting, clock_ms=lambda: NOW_MS)
        self.offset = 0

    def answer(self, status: str, partner: str = "mpesa-ke", tx_id: str = "po-1"):  # type: ignore[no-untyped-def]
        record = {"callback_id": f"cb-{self.offset}", "tx_id": tx_id, "source_account": "acc-1",
                  "partner": partner, "status": status, "partner_reference": "MP123",
                  "reason": None if status == "SUCCESS" else "beneficiary wallet closed",
                  "received_at": NOW_MS}
        event = InputEvent(partition_for("acc-1", PARTITIONS), self.offset, b"acc-1",
                           OUTCOMES.encode(record), NOW_MS)
        self.offset += 1
        view = self.world.view()
        result = self.settler.apply([(event, record)], view)
        self.world.commit(view, result)
        return result


def results(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [RESULTS.decode(m.value) for ms in result.outputs.values() for m in ms
            if m.role == "payout_results"]


def test_a_success_posts_the_hold_with_its_fx_legs_each_currency_balanced(quotes_file: Path) -> None:
    partner = Partner(quotes_file)
    result = partner.answer("SUCCESS")
    p = partition_for("acc-1", PARTITIONS)
    legs = {(x["posting_id"], x["account"], x["direction"], x["amount"], x["currency"])
            for x in postings(result)}
    assert legs == {("po-1:D", "acc-1", "DEBIT", 1_000, "EUR"),
                    ("po-1:C", f"sys:fx:EUR:p{p:02d}", "CREDIT", 1_000, "EUR"),
                    ("po-1:XD", f"sys:fx:KES:p{p:02d}", "DEBIT", 140_250, "KES"),
                    ("po-1:XC", f"sys:partner:mpesa-ke:p{p:02d}", "CREDIT", 140_250, "KES")}
    accounts = partner.world.accounts
    assert accounts["acc-1"].holds == {} and accounts["acc-1"].balance("EUR") == 9_000
    assert accounts[f"sys:partner:mpesa-ke:p{p:02d}"].balance("KES") == 140_250
    assert partner.world.tx["po-1"]["s"] == "PAYOUT_SUCCEEDED"
    [ending] = results(result)
    assert (ending["status"], ending["send_partner"], ending["payout_amount"],
            ending["partner_reference"]) == ("SUCCESS", "wallet-fr", 140_250, "MP123")
    assert [h.expires_at_ms for h in result.holds] == [None]  # out of the expiry index
    again = partner.answer("SUCCESS")  # the partner's retry
    assert again.counters["payout_outcome_after_end"] == 1 and postings(again) == []


def test_a_same_currency_payout_posts_two_legs_straight_to_the_partner(tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text(f'version = "1"\n[[quote]]\nid = "q-eur"\nsell = "EUR"\nbuy = "EUR"\n'
                    f'rate = "1"\nexpires_at = {NOW_MS + 60_000}\n')
    partner = Partner(path, payout(quote="q-eur", payout_currency="EUR", fx_rate="1",
                                   payout_amount=1_000))
    legs = {(x["posting_id"], x["account"].rsplit(":", 1)[0]) for x in postings(partner.answer("SUCCESS"))}
    assert legs == {("po-1:D", "acc-1"), ("po-1:C", "sys:partner:mpesa-ke")}


def test_a_failure_releases_the_hold_and_tells_the_sender(quotes_file: Path) -> None:
    partner = Partner(quotes_file)
    result = partner.answer("FAILURE")
    assert postings(result) == [] and partner.world.accounts["acc-1"].available("EUR") == 10_000
    assert partner.world.tx["po-1"]["s"] == "PAYOUT_FAILED"
    assert [(r["status"], r["reason"]) for r in results(result)] == [("FAILURE", "beneficiary wallet closed")]
    late = partner.answer("SUCCESS")  # out of order: the FAILURE came first and stands
    assert late.counters["payout_outcome_after_end"] == 1 and postings(late) == []


def test_answers_from_another_partner_or_about_no_payout_change_nothing(quotes_file: Path) -> None:
    partner = Partner(quotes_file)
    assert partner.answer("SUCCESS", partner="someone-else").counters["payout_outcome_wrong_partner"] == 1
    assert partner.answer("SUCCESS", tx_id="t-unknown").counters["payout_outcome_unknown_payout"] == 1
    assert "po-1" in partner.world.accounts["acc-1"].holds


def test_an_expired_payout_tells_its_sender_and_a_late_success_is_an_exception(quotes_file: Path) -> None:
    partner = Partner(quotes_file)
    labels = SingleObjectCodec(load_versions("fraud_label"))
    reviews = SingleObjectCodec(load_versions("review"))
    late = Reviewer(reviews, partner.world.authorizer, labels, clock_ms=lambda: NOW_MS + 3_601_000,
                    payout_results=RESULTS)
    view = partner.world.view()
    expired = late.expire(partition_for("acc-1", PARTITIONS), [("acc-1", "po-1")], view)
    partner.world.commit(view, expired)
    assert [(r["status"], r["amount"]) for r in results(expired)] == [("EXPIRED", 1_000)]
    success = partner.answer("SUCCESS")
    assert postings(success) == [] and success.counters["payout_late_success"] == 1
    assert [r["status"] for r in results(success)] == ["LATE_SUCCESS"]
    assert partner.world.accounts["acc-1"].balance("EUR") == 10_000  # never a second posting
    assert partner.answer("SUCCESS").counters["payout_outcome_after_end"] == 1  # recorded once


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with `make up`'s Prometheus")
def test_the_late_success_alert_is_a_valid_rule_on_a_metric_the_worker_exports() -> None:
    rules = Path(__file__).resolve().parents[2] / "deploy" / "local" / "alerts.yml"
    checked = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    from agents.metrics import EVENTS

    assert 'paystream_worker_events_total{event="payout_late_success"}' in rules.read_text()
    assert EVENTS._name == "paystream_worker_events"  # prometheus_client drops the _total suffix


def test_a_receive_partner_may_have_its_own_deadline(quotes_file: Path) -> None:
    world = world_with_quotes(quotes_file, Rules(limits=Limits(payout_deadline_s=900)))
    world.authorizer = Authorizer(Rules(limits=Limits(payout_deadline_s=900)), CODECS, "transactions",
                                  DAY_MS, clock_ms=lambda: NOW_MS, partitions=PARTITIONS,
                                  quotes=load_quotes(quotes_file), payout_deadlines={"mpesa-ke": 120})
    world.authorize(events(payout()))
    assert world.accounts["acc-1"].holds["po-1"].expires_at_ms == NOW_MS + 120_000


def test_the_api_and_the_watch_need_the_secrets_of_receive_partners_only(tmp_path: Path) -> None:
    from streams.partners import load_partners

    path = tmp_path / "partners.toml"
    path.write_text('[partners.merchants]\nurl = "http://127.0.0.1:1/hooks"\nsecret_env = "M"\n'
                    'kinds = ["DECLINED"]\n[partners.mpesa-ke]\nurl = "http://127.0.0.1:2/p"\n'
                    'secret_env = "K"\nkinds = ["PAYOUT_INSTRUCTION"]\n')
    [receive] = load_partners(path, {"K": "k-secret"}, kind="PAYOUT_INSTRUCTION")
    assert (receive.partner_id, receive.secret) == ("mpesa-ke", "k-secret")
    with pytest.raises(ConfigError, match="set the environment variable K"):
        load_partners(path, {"M": "m-secret"}, kind="PAYOUT_INSTRUCTION")
