"""The compiled triage (native/avro/src/triage.rs) against Python's (agents/authorizer.py).

It may only answer for a transaction Python holds valid, with the very `Valid` Python builds
(the same Transaction, the same fingerprint); anything else it must pass to Python, which words
the dead letter. And it must answer for the plain traffic, or it saves nothing.
"""

from __future__ import annotations

import msgspec
import pytest

from agents.authorizer import Valid, _compiled_triage, _triage_one, body_hash, triage
from agents.batch import DeadLetter, InputEvent
from streams.codec import SingleObjectCodec, load_versions
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.partitioning import partition_for
from streams.records import Channel, Payout, Transaction, TransactionType
from streams.validation import is_ip_address

NOW_MS = 1_767_225_600_000
SKEW_MS = 3_600_000
PARTITIONS = 12
CODEC = SingleObjectCodec(load_versions("transaction"))
COMPILED = _compiled_triage(CODEC)


def event(t: Transaction, codec: SingleObjectCodec = CODEC, offset: int = 0) -> InputEvent:
    return InputEvent(partition_for(t.partition_key, PARTITIONS), offset, t.partition_key.encode(),
                      codec.encode(t.to_record()), NOW_MS)


def base(**changes: object) -> Transaction:
    t = Transaction(tx_id="t-1", type=TransactionType.TRANSFER, source_account="acc-1",
                    destination_account="acc-2", amount=1_000, currency="EUR",
                    event_time=NOW_MS - 1_000, channel=Channel.MOBILE, country="DE",
                    merchant_id="m-1", merchant_category="5411", device_id="d-1",
                    ip="10.0.0.1", metadata={"k": "v", "a": "b"}, auth_method="PIN")
    return msgspec.structs.replace(t, **changes)


def payout(**changes: object) -> Transaction:
    details = Payout("send-1", "recv-1", "Ana", 9_000, "MXN", "18.1", "q-1")
    return base(type=TransactionType.PAYOUT, destination_account="sys:partner:recv-1",
                payout=msgspec.structs.replace(details, **changes))


def python_says(e: InputEvent) -> Valid | DeadLetter:
    return _triage_one(e, CODEC, NOW_MS, SKEW_MS, PARTITIONS)


def compiled_says(e: InputEvent) -> Valid | None:
    assert COMPILED is not None
    return COMPILED.check([e], NOW_MS, SKEW_MS, PARTITIONS)[0]


def assert_same(a: Valid, b: Valid) -> None:
    assert a.event is b.event
    assert a.tx == b.tx and a.body_hash == b.body_hash
    assert msgspec.structs.asdict(a.tx) == msgspec.structs.asdict(b.tx)  # enums, None, {} alike


def test_plain_traffic_is_decided_in_compiled_code_as_python_decides_it() -> None:
    generated = [t for t, _ in TrafficGenerator(GeneratorConfig(
        seed=5, accounts=2_000, start_ms=NOW_MS - 30 * 86_400_000)).generate(3_000)]
    kinds = {t.type for t in generated}
    assert {TransactionType.DEPOSIT, TransactionType.PAYMENT, TransactionType.TRANSFER} <= kinds
    extra = [base(), payout(), base(metadata={}), base(merchant_id=None, merchant_category=None,
                                                       device_id=None, ip=None, auth_method=None),
             base(ip="2001:db8::1"), base(amount=10**15), base(tx_id="x" * 64)]
    events = [event(t, offset=i) for i, t in enumerate(generated + extra)]
    checked = COMPILED.check(events, NOW_MS, SKEW_MS, PARTITIONS)
    assert None not in checked
    for e, fast in zip(events, checked, strict=True):
        assert_same(fast, python_says(e))
    valid, dead = triage(events, CODEC, NOW_MS, SKEW_MS, PARTITIONS)
    assert dead == [] and valid == checked


BROKEN = {
    "amount": base(amount=0), "amount_max": base(amount=10**15 + 1),
    "negative": base(amount=-5), "currency": base(currency="EURO"), "country": base(country="XX"),
    "same_account": base(destination_account="acc-1"), "id": base(tx_id="t 1"),
    "id_long": base(tx_id="x" * 65), "id_empty": base(tx_id=""), "id_newline": base(tx_id="t-1\n"),
    "early": base(event_time=900_000_000_000), "future": base(event_time=NOW_MS + SKEW_MS + 1),
    "deposit_from_customer": base(type=TransactionType.DEPOSIT),
    "deposit_to_system": base(type=TransactionType.DEPOSIT, source_account="sys:bank",
                              destination_account="sys:x"),
    "withdrawal_to_customer": base(type=TransactionType.WITHDRAWAL),
    "transfer_from_system": base(source_account="sys:bank"),
    "transfer_to_system": base(destination_account="sys:bank"),
    "payout_missing": base(type=TransactionType.PAYOUT, destination_account="sys:partner:recv-1"),
    "payout_on_transfer": msgspec.structs.replace(payout(), type=TransactionType.TRANSFER),
    "payout_partner": msgspec.structs.replace(payout(), destination_account="sys:partner:other"),
    "payout_currency": payout(payout_currency="ZZZ"), "payout_amount": payout(payout_amount=0),
    "payout_id": payout(quote_id="q 1"),
    "mcc": base(merchant_category="541"), "mcc_wide": base(merchant_category="\uff15\uff14\uff11\uff11"),
    "mcc_newline": base(merchant_category="5411\n"), "auth": base(auth_method="SMS"),
    "ip": base(ip="10.0.0.300"), "ip_scoped": base(ip="fe80::1%eth0"),
    "ip_octal": base(ip="010.0.0.1"), "ip_space": base(ip=" 10.0.0.1"),
}
RATES = ["18.1", "1", "0.5", "0", "0.0", "-1", "1e3", " 1.5", "1_000", "Infinity", "NaN", ".5",
         "5.", "1,5", "", "00.01"]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_what_is_not_plainly_valid_goes_to_python(name: str) -> None:
    e = event(BROKEN[name])
    fast, slow = compiled_says(e), python_says(e)
    if fast is not None:  # only where Python holds it valid too, and alike
        assert isinstance(slow, Valid), slow
        assert_same(fast, slow)


@pytest.mark.parametrize("rate", RATES)
def test_a_payout_rate_is_valid_in_compiled_code_only_where_python_says_so(rate: str) -> None:
    e = event(payout(fx_rate=rate))
    fast, slow = compiled_says(e), python_says(e)
    if fast is not None:
        assert isinstance(slow, Valid), (rate, slow)
        assert_same(fast, slow)
    if rate in ("18.1", "1", "0.5"):
        assert fast is not None


def test_keys_partitions_versions_and_bad_bytes_go_to_python() -> None:
    good = event(base())
    older = SingleObjectCodec(load_versions("transaction"), writer_version=2)
    for e in [InputEvent(good.partition, 1, None, good.value, NOW_MS),
              InputEvent(good.partition, 2, b"acc-2", good.value, NOW_MS),
              InputEvent((good.partition + 1) % PARTITIONS, 3, good.key, good.value, NOW_MS),
              InputEvent(good.partition, 4, good.key, good.value[:-1], NOW_MS),
              InputEvent(good.partition, 5, good.key, good.value + b"\x00", NOW_MS),
              InputEvent(good.partition, 6, good.key, b'{"json": 1}', NOW_MS),
              event(base(), codec=older)]:
        assert compiled_says(e) is None
    valid, dead = triage([good, event(base(amount=0))], CODEC, NOW_MS, SKEW_MS, PARTITIONS)
    assert [v.event for v in valid] == [good] and [d.reason for d in dead] == ["invalid:amount"]


def test_the_compiled_fingerprint_is_the_stored_one() -> None:
    for t in (base(), payout(), base(metadata={}, ip=None), base(amount=2**40, event_time=NOW_MS)):
        data = CODEC.encode(t.to_record())
        assert COMPILED.body_hash(data) == body_hash(CODEC.decode(data))


@pytest.mark.parametrize("ip", ["1.2.3.4", "255.255.255.255", "::", "::1", "::ffff:1.2.3.4",
                                "2001:db8::8a2e:370:7334", "1.2.3", "1.2.3.4.5", "01.2.3.4",
                                "1.2.3.04", "256.1.1.1", ":::", "1::2::3", "fe80::1%1", "",
                                "1.2.3.4 ", "::ffff:01.2.3.4", "0x1.2.3.4"])
def test_an_address_is_valid_in_compiled_code_only_where_python_says_so(ip: str) -> None:
    fast = compiled_says(event(base(ip=ip)))
    if fast is not None:
        assert is_ip_address(ip), ip


def test_other_codecs_are_decided_by_python() -> None:
    older_reader = SingleObjectCodec(load_versions("transaction"), reader_version=2)
    assert _compiled_triage(older_reader) is None
