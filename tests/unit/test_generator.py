"""The synthetic traffic generator: deterministic, well-formed, realistic, and honestly labelled."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import fastavro
import pytest

from streams.errors import ConfigError
from streams.generator import SCENARIOS, GeneratorConfig, TrafficGenerator
from streams.records import SYSTEM_ACCOUNT_PREFIX, Channel, FraudLabel, Transaction, TransactionType

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "transaction.v3.avsc"
ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CUSTOMER_RE = re.compile(r"^acc-\d{8}$")
MINUTE_MS = 60_000
#: Longest fraud episode (a mule fan-in: up to 2 hours after a minute's delay).
EPISODE_MS_MAX = 125 * MINUTE_MS

CONFIG = GeneratorConfig(seed=11, accounts=5_000, fraud_share=0.02)
COUNT = 60_000

Item = tuple[Transaction, FraudLabel]
Debits = dict[str, list[tuple[int, Transaction]]]


@pytest.fixture(scope="module")
def stream() -> list[Item]:
    return list(TrafficGenerator(CONFIG).generate(COUNT))


@pytest.fixture(scope="module")
def home(stream: list[Item]) -> dict[str, str]:
    """Each account's home country: where its opening deposit was made."""
    homes: dict[str, str] = {}
    for tx, _ in stream:
        if tx.type is TransactionType.DEPOSIT:
            homes.setdefault(tx.destination_account, tx.country)
    return homes


def episodes(stream: list[Item], scenario: str, key: str, gap_ms: int) -> list[list[tuple[int, Transaction]]]:
    """The scenario's transactions (with stream positions) grouped by an account field, split
    wherever the time gap exceeds gap_ms; episodes that may still run past the stream's end,
    which `count` cuts off, are left out."""
    grouped: dict[str, list[tuple[int, Transaction]]] = defaultdict(list)
    for n, (tx, label) in enumerate(stream):
        if label.scenario == scenario:
            grouped[getattr(tx, key)].append((n, tx))
    result = []
    for group in grouped.values():
        current = [group[0]]
        for row in group[1:]:
            if row[1].event_time - current[-1][1].event_time > gap_ms:
                result.append(current)
                current = []
            current.append(row)
        result.append(current)
    complete_before = stream[-1][0].event_time - EPISODE_MS_MAX
    return [episode for episode in result if episode[0][1].event_time < complete_before]


@pytest.fixture(scope="module")
def debits(stream: list[Item]) -> Debits:
    """Each account's debits, with their position in the stream."""
    result: Debits = defaultdict(list)
    for n, (tx, _) in enumerate(stream):
        result[tx.source_account].append((n, tx))
    return result


def history_before(debits: Debits, account: str, index: int, field: str) -> set[object]:
    """Values of `field` in the account's own debits earlier in the stream."""
    return {getattr(tx, field) for n, tx in debits[account] if n < index}


def balance_before(stream: list[Item], index: int, account: str) -> int:
    """The account's balance just before stream[index], replaying the ledger's funds check."""
    balances: Counter[str] = Counter()
    for tx, _ in stream[:index]:
        if tx.type is TransactionType.DEPOSIT:
            balances[tx.destination_account] += tx.amount
        elif balances[tx.source_account] >= tx.amount:
            balances[tx.source_account] -= tx.amount
            balances[tx.destination_account] += tx.amount
    return balances[account]


# --- determinism and the stream contract ---------------------------------------------------


def test_same_config_gives_identical_transactions_and_labels() -> None:
    first = list(TrafficGenerator(CONFIG).generate(5_000))
    second = list(TrafficGenerator(CONFIG).generate(5_000))
    assert first == second


_DIGEST_SCRIPT = """
import hashlib
from streams.generator import GeneratorConfig, TrafficGenerator
digest = hashlib.sha256()
for item in TrafficGenerator(GeneratorConfig(seed=3, accounts=300, fraud_share=0.1)).generate(3_000):
    digest.update(repr(item).encode())
print(digest.hexdigest())
"""


def test_same_config_gives_the_same_stream_in_another_process() -> None:
    # String hashing differs per process; nothing may depend on set or dict-of-set order.
    root = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT], cwd=root, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)},
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1


def test_different_seeds_give_different_traffic() -> None:
    one = list(TrafficGenerator(GeneratorConfig(seed=1, accounts=1_000)).generate(2_000))
    two = list(TrafficGenerator(GeneratorConfig(seed=2, accounts=1_000)).generate(2_000))
    assert {tx.tx_id for tx, _ in one}.isdisjoint(tx.tx_id for tx, _ in two)
    assert [(tx.destination_account, tx.amount) for tx, _ in one] != [
        (tx.destination_account, tx.amount) for tx, _ in two
    ]


def test_successive_generate_calls_continue_one_stream() -> None:
    generator = TrafficGenerator(CONFIG)
    pieces = list(generator.generate(1_000)) + list(generator.generate(0)) + list(generator.generate(2_500))
    assert pieces == list(TrafficGenerator(CONFIG).generate(3_500))


@pytest.mark.parametrize("count", [0, 1, 12_345])
def test_generate_yields_exactly_count(count: int) -> None:
    assert sum(1 for _ in TrafficGenerator(GeneratorConfig(accounts=500)).generate(count)) == count


def test_negative_count_is_refused() -> None:
    with pytest.raises(ConfigError, match="count"):
        TrafficGenerator(GeneratorConfig(accounts=500)).generate(-1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", -1),
        ("accounts", 10),
        ("fraud_share", 0.5),
        ("fraud_share", -0.1),
        ("fraud_share", float("nan")),
        ("tx_per_account_per_day", 0.0),
        ("start_ms", -5),
        ("mule_share", 0.0),
    ],
)
def test_bad_config_names_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as error:
        GeneratorConfig(**{field: value})  # type: ignore[arg-type]
    assert field in str(error.value) and repr(value) in str(error.value)


# --- well-formed transactions --------------------------------------------------------------


def test_tx_ids_are_unique_well_formed_and_match_labels(stream: list[Item]) -> None:
    ids = [tx.tx_id for tx, _ in stream]
    assert len(set(ids)) == len(ids)
    assert all(ID_RE.match(tx_id) for tx_id in ids)
    assert all(tx.tx_id == label.tx_id for tx, label in stream)


def test_every_field_is_well_formed(stream: list[Item]) -> None:
    auth_methods = {"PIN", "THREE_DS", "BIOMETRIC", "PASSWORD", "NONE", None}
    for tx, _ in stream:
        assert isinstance(tx.type, TransactionType) and isinstance(tx.channel, Channel)
        assert type(tx.amount) is int and tx.amount > 0
        assert re.fullmatch(r"[A-Z]{3}", tx.currency) and re.fullmatch(r"[A-Z]{2}", tx.country)
        assert tx.source_account != tx.destination_account
        assert ID_RE.match(tx.source_account) and ID_RE.match(tx.destination_account)
        assert tx.auth_method in auth_methods
        assert tx.ip is None or ipaddress.ip_address(tx.ip).version == 4
        assert tx.device_id is None or re.fullmatch(r"dev-[0-9a-f]{12}", tx.device_id)
        assert tx.metadata == {}
        settlement = f"{SYSTEM_ACCOUNT_PREFIX}settlement:{tx.currency}"
        if tx.type is TransactionType.PAYMENT:
            assert tx.merchant_id == tx.destination_account and re.fullmatch(r"mer-\d+", tx.merchant_id)
            assert tx.merchant_category is not None and re.fullmatch(r"\d{4}", tx.merchant_category)
        else:
            assert tx.merchant_id is None and tx.merchant_category is None
        if tx.type is TransactionType.DEPOSIT:
            assert tx.source_account == settlement and CUSTOMER_RE.match(tx.destination_account)
        elif tx.type is TransactionType.WITHDRAWAL:
            assert tx.destination_account == settlement and CUSTOMER_RE.match(tx.source_account)
        else:
            assert CUSTOMER_RE.match(tx.source_account)


def test_records_fit_the_avro_schema_and_carry_no_label(stream: list[Item]) -> None:
    schema = fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))
    fraud = [tx for tx, label in stream if label.is_fraud]
    for tx in [tx for tx, _ in stream[::50]] + fraud:
        record = tx.to_record()
        assert fastavro.validation.validate(record, schema)
        assert Transaction.from_record(record) == tx
        text = json.dumps(record)
        assert not any(name in text for name in SCENARIOS) and "fraud" not in text


def test_each_currency_follows_the_account(stream: list[Item]) -> None:
    currency_of: dict[str, str] = {}
    for tx, _ in stream:
        for account in (tx.source_account, tx.destination_account):
            if CUSTOMER_RE.match(account):
                assert currency_of.setdefault(account, tx.currency) == tx.currency


# --- time ------------------------------------------------------------------------------------


def test_event_times_are_ordered_and_span_matches_the_estimate(stream: list[Item]) -> None:
    times = [tx.event_time for tx, _ in stream]
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert times[0] >= CONFIG.start_ms
    estimate = TrafficGenerator(CONFIG).span_ms(COUNT)
    assert 0.95 * estimate <= times[-1] - CONFIG.start_ms <= 1.05 * estimate


@pytest.mark.parametrize("end_ms", [1_790_000_000_000, 1_790_000_000_000 + 9 * 3_600_000])
def test_span_measured_back_from_an_end_time_ends_the_stream_there(end_ms: int) -> None:
    count, config = 20_000, GeneratorConfig(seed=4, accounts=10_000)
    start_ms = end_ms - TrafficGenerator(config).span_ms(count, end_ms=end_ms)
    *_, (last, _) = TrafficGenerator(GeneratorConfig(seed=4, accounts=10_000, start_ms=start_ms)).generate(count)
    # The span is ~19 h; arrivals are random, so the end wanders: sd 5-15 min by time of day.
    assert abs(last.event_time - end_ms) < 60 * MINUTE_MS


def test_legit_activity_follows_the_local_day(stream: list[Item], home: dict[str, str]) -> None:
    central_european = {"DE", "FR", "IT", "ES", "NL", "AT", "BE", "PL", "SE"}
    hours = Counter(
        (tx.event_time // 3_600_000 + 1) % 24
        for tx, label in stream
        if not label.is_fraud and tx.type is not TransactionType.DEPOSIT
        and home.get(tx.source_account) in central_european
    )
    total = sum(hours.values())
    night = sum(hours[h] for h in range(6)) / total
    evening = sum(hours[h] for h in range(17, 21)) / total
    assert 0.0 < night < 0.05  # rare, but there
    assert evening > 4 * night


# --- money -----------------------------------------------------------------------------------


def test_accounts_are_funded_by_a_deposit_before_their_first_debit(stream: list[Item]) -> None:
    funded: set[str] = set()
    for tx, _ in stream:
        if tx.type is TransactionType.DEPOSIT:
            funded.add(tx.destination_account)
        else:
            assert tx.source_account in funded, tx


def test_legit_spending_rarely_exceeds_the_balance(stream: list[Item]) -> None:
    balance: Counter[str] = Counter()
    debits = short = 0
    for tx, label in stream:
        if tx.type is TransactionType.DEPOSIT:
            balance[tx.destination_account] += tx.amount
            continue
        if balance[tx.source_account] < tx.amount:
            short += not label.is_fraud
        else:
            balance[tx.source_account] -= tx.amount
            balance[tx.destination_account] += tx.amount
        debits += not label.is_fraud
    assert short / debits < 0.02


# --- population ------------------------------------------------------------------------------


def test_activity_is_heavy_tailed(stream: list[Item]) -> None:
    per_account = Counter(
        tx.source_account for tx, label in stream if not label.is_fraud and tx.type is not TransactionType.DEPOSIT
    )
    counts = sorted(per_account.values(), reverse=True)
    top_share = sum(counts[: CONFIG.accounts // 100]) / sum(counts)
    assert top_share > 0.08  # the top 1% do at least 8x their share


def test_legit_traffic_has_the_noise_fraud_hides_in(stream: list[Item], home: dict[str, str]) -> None:
    legit = [(n, tx) for n, (tx, label) in enumerate(stream) if not label.is_fraud]
    debits = [(n, tx) for n, tx in legit if tx.type is not TransactionType.DEPOSIT]
    abroad = sum(tx.country != home[tx.source_account] for _, tx in debits) / len(debits)
    assert 0.005 < abroad < 0.08
    assert sum(tx.amount < 500 for _, tx in debits if tx.type is TransactionType.PAYMENT) > 100
    devices: dict[str, set[str]] = defaultdict(set)
    payees: dict[str, set[str]] = defaultdict(set)
    new_devices = new_payees = 0
    for _, tx in debits:
        if tx.device_id:
            new_devices += bool(devices[tx.source_account]) and tx.device_id not in devices[tx.source_account]
            devices[tx.source_account].add(tx.device_id)
        if tx.type is TransactionType.TRANSFER:
            new_payees += bool(payees[tx.source_account]) and tx.destination_account not in payees[tx.source_account]
            payees[tx.source_account].add(tx.destination_account)
    assert new_devices > 50 and new_payees > 50


def test_no_field_value_is_used_only_by_fraud(stream: list[Item]) -> None:
    for field in ("type", "channel", "auth_method", "merchant_category", "currency"):
        legit = {getattr(tx, field) for tx, label in stream if not label.is_fraud}
        fraud = {getattr(tx, field) for tx, label in stream if label.is_fraud}
        assert fraud <= legit, field


# --- fraud -------------------------------------------------------------------------------------


def test_fraud_share_and_labels(stream: list[Item]) -> None:
    scenarios = Counter(label.scenario for _, label in stream)
    assert set(scenarios) == {"legit", *SCENARIOS}
    assert all(label.is_fraud == (label.scenario != "legit") for _, label in stream)
    share = sum(n for name, n in scenarios.items() if name != "legit") / COUNT
    assert abs(share - CONFIG.fraud_share) < 0.004


def test_fraud_share_zero_gives_no_fraud() -> None:
    generator = TrafficGenerator(GeneratorConfig(accounts=1_000, fraud_share=0.0))
    assert not any(label.is_fraud for _, label in generator.generate(20_000))


def test_card_testing_is_a_burst_of_small_payments_on_a_new_device(stream: list[Item], debits: Debits) -> None:
    bursts = episodes(stream, "card_testing", "source_account", gap_ms=10 * MINUTE_MS)
    assert len(bursts) >= 5
    for burst in bursts:
        first_index, first = burst[0]
        assert 8 <= len(burst) <= 30
        assert burst[-1][1].event_time - first.event_time <= 7 * MINUTE_MS
        assert all(tx.type is TransactionType.PAYMENT and 50 <= tx.amount <= 500 for _, tx in burst)
        assert all(tx.channel in (Channel.WEB, Channel.API) for _, tx in burst)
        assert len({tx.merchant_id for _, tx in burst}) >= len(burst) // 2
        assert first.device_id not in history_before(debits, first.source_account, first_index, "device_id")


def test_account_takeover_drains_to_a_new_payee_from_abroad(
    stream: list[Item], home: dict[str, str], debits: Debits
) -> None:
    takeovers = episodes(stream, "account_takeover", "source_account", gap_ms=2 * 60 * MINUTE_MS)
    assert len(takeovers) >= 3
    for takeover in takeovers:
        first_index, first = takeover[0]
        account = first.source_account
        assert all(tx.country != home[account] for _, tx in takeover)
        assert first.device_id not in history_before(debits, account, first_index, "device_id")
        assert takeover[-1][1].event_time - first.event_time <= 65 * MINUTE_MS
        transfers = [tx for _, tx in takeover if tx.type is TransactionType.TRANSFER]
        paid_before = history_before(debits, account, first_index, "destination_account")
        assert transfers and transfers[-1].destination_account not in paid_before
        # Most of what the account held when the fraudster got in goes out in the transfers.
        assert sum(tx.amount for tx in transfers) >= 0.5 * balance_before(stream, first_index, account)


def test_mule_fan_in_is_many_first_time_payers_into_one_account(stream: list[Item], debits: Debits) -> None:
    fan_ins = episodes(stream, "mule_fan_in", "destination_account", gap_ms=2 * 60 * MINUTE_MS)
    assert len(fan_ins) >= 2
    for fan_in in fan_ins:
        first = fan_in[0][1]
        sources = [tx.source_account for _, tx in fan_in]
        assert len(set(sources)) == len(sources) and 10 <= len(sources) <= 40
        assert fan_in[-1][1].event_time - first.event_time <= 125 * MINUTE_MS
        assert all(tx.type is TransactionType.TRANSFER and tx.currency == first.currency for _, tx in fan_in)
        for index, tx in fan_in:
            assert tx.destination_account not in history_before(debits, tx.source_account, index, "destination_account")


def test_a_compromised_terminal_turns_the_payments_at_it_fraud_for_days(
        stream: list[Item], home: dict[str, str]) -> None:
    at_terminal: dict[str, list[tuple[Transaction, FraudLabel]]] = defaultdict(list)
    for tx, label in stream:
        if tx.merchant_id is not None:
            at_terminal[tx.merchant_id].append((tx, label))
    terminals = {merchant for merchant, rows in at_terminal.items()
                 if any(label.scenario == "compromised_terminal" for _, label in rows)}
    assert len(terminals) >= 2
    cloned_cards = 0
    for merchant in terminals:
        frauds = [tx for tx, label in at_terminal[merchant] if label.scenario == "compromised_terminal"]
        first, last = frauds[0].event_time, frauds[-1].event_time
        assert last - first <= 4 * 24 * 60 * MINUTE_MS + 10 * MINUTE_MS
        # in person, in the shop's country, by customers of that country, nothing else unusual
        assert all(tx.type is TransactionType.PAYMENT and tx.channel is Channel.POS for tx in frauds)
        assert len({tx.country for tx in frauds}) == 1
        cloned_cards += sum(1 for tx in frauds if tx.device_id is None
                            and home.get(tx.source_account) == tx.country)
        # from its first fraud until it is found out, every payment there is fraud: a long run
        run = longest = 0
        for _, label in at_terminal[merchant]:
            run = run + 1 if label.is_fraud else 0
            longest = max(longest, run)
        assert longest >= 10, merchant
    assert cloned_cards >= 5 * len(terminals) // 2


def test_velocity_abuse_is_many_transactions_within_twenty_minutes(stream: list[Item]) -> None:
    sprees = episodes(stream, "velocity_abuse", "source_account", gap_ms=20 * MINUTE_MS)
    assert len(sprees) >= 5
    for spree in sprees:
        times = [tx.event_time for _, tx in spree]
        assert len(times) >= 15 and times[-1] - times[0] <= 20 * MINUTE_MS
        assert len({tx.destination_account for _, tx in spree}) >= 5
