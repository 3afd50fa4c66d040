"""Webhook delivery on real Redis and a real local HTTP server standing in for partners.

Each partner's delivery is a sink store (sinks.webhooks.WebhookStore) fed batches of decisions
and postings, as its own consumer group feeds it in `paystream notify`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from sinks.runner import StoreUnavailable
from sinks.webhooks import Partner, WebhookStore, load_partners, partner_inputs, verify_signature
from streams.errors import ConfigError
from streams.notifications import keys
from streams.settings import Settings
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration
T0 = 1_767_225_600_000
SECRETS = {"ok": "s3cret-ok", "flaky": "s3cret-flaky", "slow": "s3cret-slow", "down": "s3cret-down"}


class Partners:
    """Four endpoints: fine, 500 twice per event, too slow once per event, always 500."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.calls: dict[tuple[str, str], list[float]] = defaultdict(list)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        key = request.headers["Idempotency-Key"]
        self.calls[(name, key)].append(time.monotonic())
        tries = len(self.calls[(name, key)])
        if name == "down" or (name == "flaky" and tries <= 2):
            return web.Response(status=500)
        if name == "slow" and tries == 1:
            await asyncio.sleep(1.0)
        self.received[name].append({
            "key": key, "event": json.loads(body),
            "signed": verify_signature(SECRETS[name], request.headers["Paystream-Signature"], body),
            "signed_by_other": verify_signature("wrong", request.headers["Paystream-Signature"], body)})
        return web.Response(status=200)


def records() -> list[tuple[str, dict[str, Any]]]:
    decision = {"tx_id": "t1", "type": "TRANSFER", "source_account": "acc-a",
                "destination_account": "acc-b", "amount": 500, "currency": "EUR",
                "event_time": T0, "outcome": "DECLINE", "reasons": ["rule:velocity_1m"],
                "decided_at": T0 + 30}
    review = {**decision, "tx_id": "t2", "outcome": "REVIEW", "reasons": ["model:review"]}
    approved = {**decision, "tx_id": "t3", "outcome": "APPROVE", "reasons": []}
    leg = {"tx_id": "t4", "currency": "EUR", "amount": 700, "posted_at": T0 + 50,
           "event_time": T0, "account_seq": 3}
    return [("decisions", decision), ("decisions", review), ("decisions", approved),
            ("postings", {**leg, "posting_id": "t4:D", "account": "acc-a", "direction": "DEBIT",
                          "balance_after": 300}),
            ("postings", {**leg, "posting_id": "t4:C", "account": "acc-b", "direction": "CREDIT",
                          "balance_after": 900}),
            ("postings", {**leg, "posting_id": "t5:C", "account": "sys:settlement:EUR:p01",
                          "direction": "CREDIT", "balance_after": 1})]


@pytest.fixture
def prefix(stack_settings: Settings, redis_url: str):  # type: ignore[no-untyped-def]
    yield stack_settings.topic_prefix
    clean_redis_namespace(redis_url, stack_settings.topic_prefix)


async def serve(partners: Partners) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hooks/{name}", partners.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hooks/"


ALL_KINDS = frozenset({"DEBIT", "CREDIT_RECEIVED", "DECLINED", "UNDER_REVIEW"})


def test_events_are_signed_retried_dead_lettered_and_never_doubled(prefix: str, redis_url: str) -> None:
    partners = Partners()

    async def run() -> tuple[dict[str, list[int]], dict[str, float], Any, Any]:
        server, url = await serve(partners)
        written: dict[str, list[int]] = {}
        took: dict[str, float] = {}

        async def deliver(name: str, secret: str) -> None:
            # The dead partner backs off longer, so that its retries clearly outlast a healthy
            # partner's first deliveries even on a loaded machine (there the healthy one took
            # 0.25 s once, against the dead one's 0.31 s at 0.05).
            store = WebhookStore(Partner(name, url + name, secret, ALL_KINDS, timeout_s=0.3,
                                         max_attempts=4), redis_url, prefix,
                                 backoff_base_s=0.4 if name == "down" else 0.05)
            await store.open()
            try:
                started = time.monotonic()
                first = await store.write(records())
                took[name] = time.monotonic() - started
                written[name] = [first, await store.write(records())]  # a replay: nothing again
            finally:
                await store.close()

        redis = Redis.from_url(redis_url)
        try:
            # The partners' deliveries run side by side, as their groups do in `paystream notify`.
            await asyncio.gather(*(deliver(name, secret) for name, secret in SECRETS.items()))
            dead = await redis.xrange(keys(prefix)["dead"])
            outcomes = {name: await redis.hgetall(keys(prefix)["outcomes"] + name) for name in SECRETS}
        finally:
            await redis.aclose()
            await server.cleanup()
        return written, took, dead, outcomes

    written, took, dead, outcomes = asyncio.run(run())
    ids = {"t1:DECLINED:acc-a", "t2:UNDER_REVIEW:acc-a", "t4:DEBIT:acc-a", "t4:CREDIT_RECEIVED:acc-b"}
    assert written == {name: [4, 0] for name in SECRETS}
    for name in ("ok", "flaky", "slow"):
        got = partners.received[name]
        # Every copy of an event carries the event's own id as its key, so a receiver that
        # processed a request the sender gave up on (the slow one) can drop the retry.
        assert {(r["event"]["notification_id"], r["key"]) for r in got} == {(i, i) for i in ids}
        assert all(r["signed"] and not r["signed_by_other"] for r in got)
        if name != "slow":
            assert len(got) == len(ids), name  # once each
    for notification_id in ids:
        flaky = partners.calls[("flaky", notification_id)]
        assert len(flaky) == 3  # two 500s, then delivered
        # Backoff (base 0.05 s): at least half of each doubling step.
        assert flaky[1] - flaky[0] >= 0.025 and flaky[2] - flaky[1] >= 0.05
        assert len(partners.calls[("slow", notification_id)]) == 2  # a timeout, then delivered
        assert len(partners.calls[("down", notification_id)]) == 4  # max_attempts, then dead
    assert {json.loads(v)["outcome"] for v in outcomes["ok"].values()} == {"delivered"}
    assert {json.loads(v)["attempts"] for v in outcomes["flaky"].values()} == {3}
    assert {json.loads(v)["outcome"] for v in outcomes["down"].values()} == {"dead"}
    assert sorted(e[1][b"notification_id"].decode() for e in dead) == sorted(ids)
    assert {e[1][b"reason"] for e in dead} == {b"HTTP 500"}
    # A partner that is down holds up only its own deliveries: the one that was fine finished
    # its batch while the dead one was still retrying.
    assert took["ok"] < took["down"] / 2, took


def test_a_partner_gets_only_its_kinds_and_reads_only_the_topics_they_come_from(
        prefix: str, redis_url: str) -> None:
    partners = Partners()
    declines_only = Partner("ok", "", SECRETS["ok"], frozenset({"DECLINED"}))
    assert partner_inputs(declines_only) == ("decisions",)
    assert partner_inputs(Partner("x", "", "s", ALL_KINDS)) == ("decisions", "postings")

    async def run() -> int:
        server, url = await serve(partners)
        store = WebhookStore(Partner("ok", url + "ok", SECRETS["ok"], frozenset({"DECLINED"})),
                             redis_url, prefix)
        await store.open()
        try:
            return await store.write(records())
        finally:
            await store.close()
            await server.cleanup()

    assert asyncio.run(run()) == 1
    assert [r["event"]["kind"] for r in partners.received["ok"]] == ["DECLINED"]


def test_an_outcome_store_that_is_down_is_retriable_and_delivers_nothing_unrecorded(
        prefix: str) -> None:
    partners = Partners()

    async def run() -> None:
        server, url = await serve(partners)
        # Nothing listens on port 9: the notifications' Redis is "down".
        store = WebhookStore(Partner("ok", url + "ok", SECRETS["ok"], ALL_KINDS),
                             "redis://127.0.0.1:9/0", prefix)
        await store.open()
        try:
            with pytest.raises(StoreUnavailable, match="notifications Redis"):
                await store.write(records())
        finally:
            await store.close()
            await server.cleanup()

    asyncio.run(run())
    # The outcomes could not be read, so nothing was sent: the runner retries the batch.
    assert partners.received["ok"] == []


def test_partners_file_errors_name_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "partners.toml"
    path.write_text('[partners.acme]\nurl = "http://127.0.0.1:9/h"\nsecret_env = "ACME_SECRET"\n')
    with pytest.raises(ConfigError, match="ACME_SECRET"):
        load_partners(path, environ={})
    [acme] = load_partners(path, environ={"ACME_SECRET": "x"})
    assert acme.kinds == frozenset({"DEBIT", "CREDIT_RECEIVED", "DECLINED", "UNDER_REVIEW"})
    mounted = tmp_path / "acme-secret"  # as compose and Kubernetes hand a secret over
    mounted.write_text("from-a-file\n")
    [acme] = load_partners(path, environ={"ACME_SECRET_FILE": str(mounted)})
    assert acme.secret == "from-a-file"
    with pytest.raises(ConfigError, match="ACME_SECRET_FILE"):
        load_partners(path, environ={"ACME_SECRET_FILE": str(tmp_path / "absent")})
    path.write_text('[partners.acme]\nurl = "ftp://x"\nsecret_env = "S"\n')
    with pytest.raises(ConfigError, match="url"):
        load_partners(path, environ={"S": "x"})
    base = '[partners.acme]\nurl = "http://127.0.0.1:9/h"\nsecret_env = "S"\n'
    path.write_text(base + "in_flight_max = 16\ntimeout_s = 2.5\nmax_attempts = 3\n")
    [acme] = load_partners(path, environ={"S": "x"})
    assert (acme.in_flight_max, acme.timeout_s, acme.max_attempts) == (16, 2.5, 3)
    for line, named in (("in_flight_max = 0", "in_flight_max must be a whole number from 1"),
                        ("in_flight_max = 2.5", "in_flight_max"), ('timeout_s = "5"', "timeout_s"),
                        ("timeout_s = 0", "timeout_s"), ("max_attempts = true", "max_attempts")):
        path.write_text(base + line + "\n")
        with pytest.raises(ConfigError, match=named):
            load_partners(path, environ={"S": "x"})
