"""Payouts end to end (docs/send-money.md): workers, `paystream notify`, the API and a simulated
receive partner that answers late, twice, contradicting itself, never, or pays but loses its
callback (found by `paystream payout-watch`'s status query), and a worker killed once.

Every payout must end in one final state, the one its partner's first answer says (or EXPIRED
when it never answered), the send partner must hear of each ending once, reconcile (sinks
included) must pass, and no sender may be debited twice or left holding funds. Forged callbacks
are refused and change nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from loadtest import payouts as payout_traffic
from streams.accounts import read_tx_records, scan_accounts
from streams.partners import sign
from streams.producer import TransactionProducer, publish
from streams.settings import Settings
from tests.conftest import clean_redis_namespace
from tests.e2e.harness import Worker, free_port, reconcile, wait_for

pytestmark = pytest.mark.e2e
PAYOUTS = 10_000
SENDERS = 200
DEADLINE_S = 60
RECEIVE_SECRET, SEND_SECRET = "mpesa-secret-e2e", "wallet-secret-e2e"
FINAL = {"PAYOUT_SUCCEEDED", "PAYOUT_FAILED", "EXPIRED"}


def _records(settings: Settings, ids: list[str]) -> dict[str, dict[str, str]]:
    async def read() -> dict[str, dict[str, str]]:
        redis = Redis.from_url(settings.redis_url)
        try:
            return await read_tx_records(redis, settings.topic_prefix, ids)
        finally:
            await redis.aclose()
    return asyncio.run(read())


def test_ten_thousand_payouts_each_end_once_through_a_partner_that_misbehaves(
        db_settings: Settings, redis_url: str, notify_redis_url: str, tmp_path: Path) -> None:
    api_port, sim_port, receiver_port = free_port(), free_port(), free_port()
    partners = tmp_path / "partners.toml"
    partners.write_text(
        f'[partners.mpesa-ke]\nurl = "http://127.0.0.1:{sim_port}/payouts"\n'
        f'secret_env = "MPESA_SECRET"\nkinds = ["PAYOUT_INSTRUCTION"]\n'
        f'callback_allow = ["127.0.0.1"]\nstatus_url = "http://127.0.0.1:{sim_port}/status"\n'
        f'payout_deadline_s = {DEADLINE_S}\n'
        f'[partners.wallet-fr]\nurl = "http://127.0.0.1:{receiver_port}/hooks"\n'
        f'secret_env = "WALLET_SECRET"\nkinds = ["PAYOUT_RESULT"]\n')
    now_ms = time.time_ns() // 1_000_000
    quote = payout_traffic.quote(now_ms)
    quotes = tmp_path / "quotes.toml"
    quotes.write_text(payout_traffic.quotes_file(quote))
    rules = tmp_path / "rules.toml"
    rules.write_text("[limits]\nreview_amount = 100000000\ndecline_amount = 1000000000\n"
                     "max_tx_per_minute = 100000.0\nmax_tx_per_hour = 100000.0\n"
                     "max_holds_per_account = 1000\npayout_deadline_s = 3600\n")  # the partner's applies
    settings = db_settings.model_copy(update={"redis_url": redis_url,
                                              "notify_redis_url": notify_redis_url,
                                              "partners_path": str(partners)})
    secrets = {"MPESA_SECRET": RECEIVE_SECRET, "WALLET_SECRET": SEND_SECRET}
    worker_env = {"PAYSTREAM_QUOTES_PATH": str(quotes), "PAYSTREAM_RULES_PATH": str(rules)}
    workers = [Worker(settings, tmp_path, f"worker-{n}", ("--hold-sweep-s", "1"), worker_env)
               for n in (1, 2)]
    others = [Worker(settings, tmp_path, "sinks", command=("sink", "all")),
              Worker(settings, tmp_path, "notify", command=("notify",), env=secrets),
              Worker(settings, tmp_path, "api", command=("api", "--port", str(api_port)),
                     env={**secrets, "PAYSTREAM_API_RATE_LIMIT": "1000000/minute"}),
              Worker(settings, tmp_path, "partner", env={"PARTNER_WEBHOOK_SECRET": RECEIVE_SECRET},
                     command=("partner-sim", "--port", str(sim_port), "--api-url",
                              f"http://127.0.0.1:{api_port}", "--latency-s", "0.3",
                              "--lost-share", "0.02")),
              Worker(settings, tmp_path, "watch", env=secrets,
                     command=("payout-watch", "--every-s", "2", "--lead-s", "40")),
              Worker(settings, tmp_path, "receiver", env={"PARTNER_WEBHOOK_SECRET": SEND_SECRET},
                     command=("webhook-receiver", "--port", str(receiver_port)))]
    ids = [f"po-{i}" for i in range(PAYOUTS)]
    api = f"http://127.0.0.1:{api_port}"
    try:
        for process in (*others, *workers):
            process.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the API never answered:\n{others[2].log_tail()}"
            time.sleep(0.5)
        report = publish(TransactionProducer.from_settings(settings),
                         iter(payout_traffic.traffic(PAYOUTS, SENDERS, quote, now_ms - 1_000)))
        assert report.sent == PAYOUTS + SENDERS
        wait_for(settings, f"{settings.topic_prefix}payout-results", PAYOUTS // 4, 300, workers)
        workers[0].kill()  # mid-run: its partitions and their holds move to the other worker
        workers[0].start()
        ended: dict[str, dict[str, str]] = {}
        deadline = time.monotonic() + DEADLINE_S + 300
        while len(ended) < PAYOUTS:
            assert time.monotonic() < deadline, f"{PAYOUTS - len(ended)} payouts never ended"
            records = _records(settings, [i for i in ids if i not in ended])
            ended.update({i: r for i, r in records.items() if r.get("s") in FINAL})
            time.sleep(2)
        forged = _forged_callbacks(api)
        code, summary = reconcile(settings, 300, "--sinks", workers=(*workers, *others))
        answers = httpx.get(f"http://127.0.0.1:{sim_port}/answers", timeout=10).json()
        sim_stats = httpx.get(f"http://127.0.0.1:{sim_port}/stats", timeout=10).json()
        told = httpx.get(f"http://127.0.0.1:{receiver_port}/stats", timeout=10).json()

        async def accounts() -> dict:
            redis = Redis.from_url(settings.redis_url)
            try:
                return await scan_accounts(redis, settings.topic_prefix)
            finally:
                await redis.aclose()
        state = asyncio.run(accounts())
    finally:
        for process in (*workers, *others):
            process.stop()
        clean_redis_namespace(redis_url, settings.topic_prefix)
        clean_redis_namespace(notify_redis_url, settings.topic_prefix)

    assert summary["problems"] == {}, json.dumps(summary)[:3000]
    assert code == 0
    # Each payout ended as its partner's first answer said; a payout answered only after its
    # deadline (a backlog behind the killed worker) may have expired first, never a second time.
    # A payout whose callback was lost is found by the status query before its deadline.
    expected = {"SUCCESS": {"PAYOUT_SUCCEEDED"}, "FAILURE": {"PAYOUT_FAILED"}, "NONE": {"EXPIRED"},
                "LOST": {"PAYOUT_SUCCEEDED"}}
    wrong = {i: (answers.get(i), r["s"]) for i, r in ended.items()
             if r["s"] not in expected[answers.get(i, "NONE")] | ({"EXPIRED"} if answers.get(i) != "LOST" else set())}
    assert wrong == {}, list(wrong.items())[:10]
    statuses = [r["s"] for r in ended.values()]
    assert statuses.count("PAYOUT_SUCCEEDED") > PAYOUTS * 0.7 and statuses.count("PAYOUT_FAILED") > PAYOUTS * 0.15
    assert statuses.count("EXPIRED") >= sum(1 for a in answers.values() if a == "NONE") > 0
    assert sim_stats["duplicates_sent"] > 0 and sim_stats["contradictions_sent"] > 0
    lost = [i for i, a in answers.items() if a == "LOST"]
    assert lost and all(ended[i]["s"] == "PAYOUT_SUCCEEDED" for i in lost), \
        {i: ended[i]["s"] for i in lost if ended[i]["s"] != "PAYOUT_SUCCEEDED"}
    # The send partner heard of every ending once; nobody holds money; each sender was debited
    # exactly its succeeded payouts.
    assert told.get("PAYOUT_RESULT") == PAYOUTS, told
    assert all(not s.holds for s in state.values())
    amounts = {f"po-{i}": payout_traffic.amount_of(i) for i in range(PAYOUTS)}
    for s in range(SENDERS):
        paid = sum(amounts[i] for i, r in ended.items() if r["s"] == "PAYOUT_SUCCEEDED"
                   and int(i[3:]) % SENDERS == s)
        assert state[f"sender-{s}"].balance("EUR") == payout_traffic.FUNDING - paid, f"sender-{s}"
    assert forged == {"wrong_signature": 401, "unknown_partner": 404, "unknown_payout": 404,
                      "other_partners_payout": 404}
    print(f"{PAYOUTS} payouts: {statuses.count('PAYOUT_SUCCEEDED')} succeeded, "
          f"{statuses.count('PAYOUT_FAILED')} failed, {statuses.count('EXPIRED')} expired; "
          f"partner: {sim_stats}")


def _forged_callbacks(api: str) -> dict[str, int]:
    """Callbacks nobody may make: each refused (and reconcile after shows nothing changed)."""
    def post(partner: str, body: dict, secret: str) -> int:
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json",
                   "Paystream-Signature": sign(secret, int(time.time()), raw)}
        return httpx.post(f"{api}/v1/partners/{partner}/callbacks", content=raw, headers=headers,
                          timeout=10).status_code

    success = {"callback_id": "forged", "tx_id": "po-1", "status": "SUCCESS"}
    return {"wrong_signature": post("mpesa-ke", success, "not-the-secret"),
            "unknown_partner": post("nobody", success, RECEIVE_SECRET),
            "unknown_payout": post("mpesa-ke", {**success, "tx_id": "po-none"}, RECEIVE_SECRET),
            "other_partners_payout": post("wallet-fr", success, SEND_SECRET)}
