"""The analysts' API as a real process over a real pipeline: workers, sinks, PostgreSQL, Kafka, Redis.

One module-wide pipeline (topics, schema and Redis keys of its own) decides a handful of
transactions, some held for review; the tests read them back over HTTP with a key of each role,
decide reviews over HTTP and check the pipeline acted on it.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from paystream.launch import run
from streams.producer import TransactionProducer, publish
from streams.records import Channel, Transaction, TransactionType
from streams.settings import Settings, load_settings
from streams.topics import create_topics, delete_topics, topics
from tests.conftest import clean_redis_namespace
from tests.e2e.harness import Worker, free_port, reconcile

pytestmark = pytest.mark.e2e
RULES = """
[limits]
review_amount = 50000
decline_amount = 900000
hold_max_age_s = 3600
[lists]
block_countries = ["KP"]
"""
NOW_MS = time.time_ns() // 1_000_000
FROM = (datetime.now(UTC) - timedelta(days=1)).isoformat()
TO = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def transfer(tx_id: str, source: str, destination: str, amount: int, **changes: Any) -> Transaction:
    fields = dict(tx_id=tx_id, type=TransactionType.TRANSFER, source_account=source,
                  destination_account=destination, amount=amount, currency="EUR",
                  event_time=NOW_MS - 60_000, channel=Channel.MOBILE, country="DE")
    fields.update(changes)
    return Transaction(**fields)  # type: ignore[arg-type]


TRANSACTIONS = [
    transfer("api-fund-a", "sys:settlement:EUR", "api-a", 1_000_000, type=TransactionType.DEPOSIT,
             channel=Channel.API),
    transfer("api-ok-1", "api-a", "api-b", 1_500, device_id="phone-a"),
    transfer("api-ok-2", "api-a", "api-b", 2_500),
    transfer("api-kp-1", "api-a", "api-b", 700, country="KP"),
    transfer("api-held-1", "api-a", "api-c", 60_000),
    transfer("api-held-2", "api-a", "api-c", 70_000),
    transfer("api-held-3", "api-a", "api-c", 80_000),
]


@dataclass
class Api:
    url: str
    settings: Settings
    keys: dict[str, str]

    def get(self, path: str, role: str | None = "analyst", **params: Any) -> httpx.Response:
        return httpx.get(self.url + path, params=params, headers=self._auth(role), timeout=30)

    def post(self, path: str, role: str | None, body: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self._auth(role), timeout=60)

    def _auth(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run(settings, *args, timeout=120)


def until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, database_url: str,
        redis_url: str) -> Iterator[Api]:
    from sinks.db import migrate

    directory = tmp_path_factory.mktemp("api")
    (directory / "rules.toml").write_text(RULES)
    prefix = f"tapi{os.getpid()}-{os.urandom(3).hex()}."
    schema = f"t_api_{os.getpid()}_{os.urandom(3).hex()}"
    settings = load_settings().model_copy(update={
        "kafka_bootstrap_servers": kafka_bootstrap, "redis_url": redis_url, "topic_prefix": prefix,
        "database_url": database_url, "db_schema": schema,
        "models_dir": str(tmp_path_factory.mktemp("models"))})
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    specs = topics(prefix, settings.partitions).all()
    create_topics(admin, specs)
    migrate(database_url, schema)
    port = free_port()
    env = {"PAYSTREAM_RULES_PATH": str(directory / "rules.toml")}
    processes = [Worker(settings, directory, "worker", env=env),
                 Worker(settings, directory, "sinks", command=("sink", "all")),
                 Worker(settings, directory, "api", command=("api", "--port", str(port)),
                        env={"PAYSTREAM_API_RATE_LIMIT": "100000/minute"})]
    try:
        keys = {}
        for role in ("analyst", "reviewer", "admin"):
            made = cli(settings, "api", "keys", "create", "--role", role, "--name", f"test {role}")
            assert made.returncode == 0, made.stderr
            keys[role] = made.stdout.strip().splitlines()[-1]
        keys["wrong"] = keys["admin"][:-4] + ("aaaa" if not keys["admin"].endswith("aaaa") else "bbbb")
        for process in processes:
            process.start()
        running = Api(f"http://127.0.0.1:{port}", settings, keys)
        until(lambda: _answers(running.url), 60, f"the API on port {port}")
        assert publish(TransactionProducer.from_settings(settings), iter(TRANSACTIONS)).sent == \
            len(TRANSACTIONS)
        until(lambda: len(running.get("/v1/transactions", **{"from": FROM, "to": TO}).json()
                          .get("items", [])) == len(TRANSACTIONS), 120,
              f"{len(TRANSACTIONS)} decisions in the reporting store; logs in {directory}")
        until(lambda: len(running.get("/v1/accounts/api-b/statement").json().get("items", [])) == 2,
              120, f"api-b's two credits in the ledger; logs in {directory}")
        # api-a's postings are on another partition of the postings topic, which the ledger sink
        # may reach later than api-b's: the tests read them too (a fresh clone's CI read them
        # before they were there, 2026-12-06).
        until(lambda: len(running.get("/v1/accounts/api-a/statement").json().get("items", [])) == 3,
              120, f"api-a's deposit and two debits in the ledger; logs in {directory}")
        yield running
    finally:
        for process in reversed(processes):
            if process.process is not None:
                process.stop()
        delete_topics(admin, [s.name for s in specs])
        clean_redis_namespace(redis_url, prefix)
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --- reading ------------------------------------------------------------------------------------


def test_a_transaction_with_its_decision_and_postings(api: Api) -> None:
    body = api.get("/v1/transactions/api-ok-1").json()
    assert body["transaction"]["outcome"] == "APPROVE"
    assert body["transaction"]["amount"] == 1_500
    assert body["transaction"]["device_id"] == "phone-a"  # Decision v3 carries it to reporting
    legs = {(p["account"], p["direction"], p["amount"]) for p in body["postings"]}
    assert ("api-a", "DEBIT", 1_500) in legs and ("api-b", "CREDIT", 1_500) in legs
    declined = api.get("/v1/transactions/api-kp-1").json()
    assert (declined["transaction"]["outcome"], declined["transaction"]["reasons"]) == \
        ("DECLINE", ["block:country"])
    assert declined["postings"] == []
    assert api.get("/v1/transactions/no-such-tx").status_code == 404


def test_search_filters_and_pages_without_repeats(api: Api) -> None:
    window = {"from": FROM, "to": TO}
    payer = api.get("/v1/transactions", account="api-a", outcome="APPROVE", **window).json()
    assert {t["tx_id"] for t in payer["items"]} == {"api-fund-a", "api-ok-1", "api-ok-2"}
    big = api.get("/v1/transactions", amount_min=60_000, amount_max=80_000, **window).json()
    assert {t["tx_id"] for t in big["items"]} == {"api-held-1", "api-held-2", "api-held-3"}
    seen, cursor = [], None
    for _ in range(10):
        page = api.get("/v1/transactions", limit=2, **window, **({"cursor": cursor} if cursor else {})).json()
        seen += [t["tx_id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(t.tx_id for t in TRANSACTIONS)


def test_account_balances_and_a_statement_whose_chain_verifies(api: Api) -> None:
    account = api.get("/v1/accounts/api-b").json()
    assert account["balances"] == [{"currency": "EUR", "balance": 4_000, "held": 0, "available": 4_000}]
    statement = api.get("/v1/accounts/api-a/statement", limit=2).json()
    assert [r["account_seq"] for r in statement["items"]] == [1, 2]
    assert statement["items"][0]["balance_after"] == 1_000_000
    assert statement["chain"]["verified"] is True and statement["next_cursor"]
    rest = api.get("/v1/accounts/api-a/statement", cursor=statement["next_cursor"]).json()
    assert rest["items"][0]["account_seq"] == 3


def test_reports_count_what_was_decided(api: Api) -> None:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    report = api.get("/v1/reports/decisions", bucket="day", **{"from": (day - timedelta(days=1)).isoformat(),
                                                               "to": (day + timedelta(days=1)).isoformat()}).json()
    counts: dict[str, int] = {}
    for row in report["rows"]:
        counts[row["key"]] = counts.get(row["key"], 0) + row["count"]
    assert counts == {"APPROVE": 3, "DECLINE": 1, "REVIEW": 3}
    too_fine = api.get("/v1/reports/volume", bucket="minute", **{"from": FROM, "to": (
        datetime.now(UTC) + timedelta(days=3)).isoformat()})
    assert too_fine.status_code == 422 and too_fine.json()["detail"][0]["loc"] == ["query", "to"]


def test_csv_export_streams_the_search_and_is_audited(api: Api) -> None:
    response = api.get("/v1/exports/transactions.csv", role="analyst", account="api-a",
                       **{"from": FROM, "to": TO})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(TRANSACTIONS) and {r["tx_id"] for r in rows} == {t.tx_id for t in TRANSACTIONS}
    trail = api.get("/v1/audit", role="admin", action="export.transactions").json()["items"]
    assert trail and trail[0]["detail"]["account"] == "api-a"


# --- reviews --------------------------------------------------------------------------------------


def test_a_reviewer_approves_over_http_and_the_pipeline_posts_it(api: Api) -> None:
    queue = api.get("/v1/reviews").json()["items"]
    assert {t["tx_id"] for t in queue} == {"api-held-1", "api-held-2", "api-held-3"}
    assert queue[0]["reasons"]
    assert api.post("/v1/reviews/api-held-1/approve", "analyst", {"note": "ok"}).status_code == 403
    first = api.post("/v1/reviews/api-held-1/approve", "reviewer", {"note": "customer called"})
    assert first.status_code == 200, first.text
    again = api.post("/v1/reviews/api-held-1/approve", "reviewer", {"note": "customer called"})
    assert again.status_code == 200 and again.json() == first.json()
    assert api.post("/v1/reviews/api-held-1/decline", "reviewer", {"note": "no"}).status_code == 409
    until(lambda: api.get("/v1/transactions/api-held-1").json()["postings"], 60,
          "the approved transaction's postings in the ledger")
    assert api.get("/v1/transactions/api-held-1").json()["review"]["status"] == "REVIEW_APPROVED"
    assert "api-held-1" not in {t["tx_id"] for t in api.get("/v1/reviews").json()["items"]}
    declined = api.post("/v1/reviews/api-held-2/decline", "reviewer", {"note": "fraud ring"})
    assert declined.status_code == 200
    until(lambda: [h["tx_id"] for h in api.get("/v1/accounts/api-a").json()["holds"]] == ["api-held-3"],
          60, "the declined hold released")
    assert api.post("/v1/reviews/api-ok-1/approve", "reviewer", {"note": "?"}).status_code == 409
    code, summary = reconcile(api.settings, 120, "--sinks")
    assert code == 0, summary
    actions = {(r["action"], r["target"]) for r in api.get("/v1/audit", role="admin").json()["items"]}
    assert {("review.approve", "api-held-1"), ("review.decline", "api-held-2")} <= actions
    # Each verdict the worker applied became a fraud label, landed by the labels sink.
    for tx_id, is_fraud in (("api-held-1", False), ("api-held-2", True)):
        labels = api.get(f"/v1/transactions/{tx_id}").json()["labels"]
        assert [(lab["source"], lab["is_fraud"]) for lab in labels] == [("REVIEW", is_fraud)], labels


# --- who may do what ------------------------------------------------------------------------------

ENDPOINTS = [("GET", "/v1/transactions/api-ok-1", "analyst"),
             ("GET", f"/v1/transactions?from={FROM}&to={TO}", "analyst"),
             ("GET", f"/v1/exports/transactions.csv?from={FROM}&to={TO}", "analyst"),
             ("GET", "/v1/accounts/api-a", "analyst"),
             ("GET", "/v1/accounts/api-a/statement", "analyst"),
             ("GET", f"/v1/reports/volume?from={FROM}&to={TO}", "analyst"),
             ("GET", f"/v1/reports/decisions?from={FROM}&to={TO}", "analyst"),
             ("GET", f"/v1/reports/fraud?from={FROM}&to={TO}", "analyst"),
             ("GET", "/v1/reviews", "analyst"),
             ("POST", "/v1/reviews/api-held-3/approve", "reviewer"),
             ("POST", "/v1/reviews/api-held-3/decline", "reviewer"),
             ("GET", "/v1/keys", "admin"),
             ("POST", "/v1/keys", "admin"),
             ("DELETE", "/v1/keys/0000000000000000", "admin"),
             ("GET", "/v1/audit", "admin")]
BELOW = {"analyst": None, "reviewer": "analyst", "admin": "reviewer"}


@pytest.mark.parametrize(("method", "path", "needs"), ENDPOINTS)
def test_every_endpoint_wants_a_key_and_the_role_it_needs(api: Api, method: str, path: str,
                                                          needs: str) -> None:
    for role, status in ((None, 401), ("wrong", 401), (BELOW[needs], 403)):
        if role is None and status == 403:
            continue
        response = httpx.request(method, api.url + path, headers=api._auth(role), timeout=30,
                                 json={"note": "x"} if method == "POST" else None)
        assert response.status_code == status, (role, response.status_code, response.text)
        assert "detail" in response.json()


HOSTILE = ["' OR '1'='1", "'; DROP TABLE ledger; --", "x" * 5_000, "\x00", "%", "\\", "😀" * 300]


@pytest.mark.parametrize("value", HOSTILE, ids=["or", "drop", "long", "nul", "percent", "backslash", "emoji"])
def test_hostile_strings_in_every_string_parameter_never_make_a_5xx(api: Api, value: str) -> None:
    window = {"from": FROM, "to": TO}
    segment = quote(value, safe="")
    tried = [api.get(f"/v1/transactions/{segment}"), api.get(f"/v1/accounts/{segment}"),
             api.get(f"/v1/accounts/{segment}/statement"), api.get("/v1/reviews", cursor=value),
             api.get("/v1/audit", role="admin", action=value)]
    for field in ("account", "merchant_id", "merchant_category", "country", "currency", "outcome",
                  "cursor", "from"):
        tried.append(api.get("/v1/transactions", **{**window, field: value}))
    tried.append(api.get("/v1/reports/volume", by=value, **window))
    tried.append(api.post(f"/v1/reviews/{segment}/approve", "reviewer", {"note": value}))
    tried.append(api.post("/v1/keys", "admin", {"name": value, "role": value}))
    for response in tried:
        assert response.status_code < 500, (response.request.url, response.status_code, response.text)
        assert response.status_code >= 400 or response.json().get("items") == []
    assert api.get("/v1/transactions/api-ok-1").status_code == 200  # the ledger is still there


def test_keys_over_http_work_at_once_and_stop_at_once(api: Api) -> None:
    made = api.post("/v1/keys", "admin", {"name": "temp analyst", "role": "analyst"})
    assert made.status_code == 201
    key, key_id = made.json()["key"], made.json()["key_id"]
    with_key = {"Authorization": f"Bearer {key}"}
    assert httpx.get(api.url + "/v1/accounts/api-a", headers=with_key).status_code == 200
    assert httpx.delete(api.url + f"/v1/keys/{key_id}", headers=api._auth("admin")).status_code == 200
    assert httpx.get(api.url + "/v1/accounts/api-a", headers=with_key).status_code == 401
    listed = {k["key_id"]: k for k in api.get("/v1/keys", role="admin").json()}
    assert listed[key_id]["revoked_at"] is not None and "secret_hash" not in listed[key_id]


def test_a_key_revoked_from_the_command_line_stops_working_in_the_running_api(api: Api) -> None:
    made = cli(api.settings, "api", "keys", "create", "--role", "analyst", "--name", "cli revoke")
    key = made.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    with_key = {"Authorization": f"Bearer {key}"}
    for _ in range(3):  # authenticated, then remembered by the API process
        assert httpx.get(api.url + "/v1/accounts/api-a", headers=with_key).status_code == 200
    revoked = cli(api.settings, "api", "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    # Announced by PostgreSQL to the API process: gone within moments, not after a cache expiry.
    until(lambda: httpx.get(api.url + "/v1/accounts/api-a", headers=with_key).status_code == 401,
          2, "the revoked key refused")


def test_bad_requests_are_4xx_naming_what_is_wrong(api: Api) -> None:
    unknown = api.get("/v1/transactions", colour="red", **{"from": FROM, "to": TO})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["query", "colour"]
    missing = api.get("/v1/transactions")
    assert missing.status_code == 422 and {tuple(e["loc"]) for e in missing.json()["detail"]} == \
        {("query", "from"), ("query", "to")}
    wide = api.get("/v1/transactions", **{"from": "2020-01-01", "to": "2026-01-01"})
    assert wide.status_code == 422 and "31 days" in wide.json()["detail"][0]["msg"]
    big = httpx.post(api.url + "/v1/reviews/api-held-3/approve", headers=api._auth("reviewer"),
                     content=b'{"note": "' + b"x" * 40_000 + b'"}')
    assert big.status_code == 413
    empty = api.post("/v1/reviews/api-held-3/approve", "reviewer", {})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "note"]


def test_the_audit_trail_cannot_be_changed(api: Api) -> None:
    with psycopg.connect(api.settings.database_url) as connection:
        for statement in ("UPDATE {s}.audit SET actor = 'x'", "DELETE FROM {s}.audit",
                          "TRUNCATE {s}.audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement.format(s=api.settings.db_schema))
            connection.rollback()


def test_health_readiness_docs_and_security_headers(api: Api) -> None:
    ready = httpx.get(api.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgresql": "ok", "kafka": "ok"}
    docs = httpx.get(api.url + "/docs")
    assert docs.status_code == 200 and "/swagger/swagger-ui-bundle.js" in docs.text
    assert httpx.get(api.url + "/swagger/swagger-ui-bundle.js").status_code == 200
    spec = httpx.get(api.url + "/openapi.json").json()
    assert "/v1/reviews/{tx_id}/approve" in spec["paths"]
    headers = api.get("/v1/accounts/api-a").headers
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert "x-request-id" in headers and "server" not in headers


def test_the_rate_limit_answers_429_with_retry_after(api: Api, tmp_path: Path) -> None:
    port = free_port()
    limited = Worker(api.settings, tmp_path, "api-limited", command=("api", "--port", str(port)),
                     env={"PAYSTREAM_API_RATE_LIMIT": "5/minute"})
    limited.start()
    try:
        url = f"http://127.0.0.1:{port}"
        until(lambda: _answers(url), 60, "the rate-limited API")
        codes = [httpx.get(url + "/v1/accounts/api-a", headers=api._auth("analyst")).status_code
                 for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        refused = httpx.get(url + "/v1/accounts/api-a", headers=api._auth("analyst"))
        assert int(refused.headers["retry-after"]) >= 1
        assert httpx.get(url + "/v1/accounts/api-a", headers=api._auth("reviewer")).status_code == 200
    finally:
        limited.stop()


# --- every operation against its own schema (schemathesis) ----------------------------------------


#: Cases schemathesis generates per operation and role (about 20 operations x 3 roles).
EXAMPLES_PER_OPERATION = 15


def test_every_operation_answers_within_its_schema_and_never_5xx(api: Api) -> None:
    """schemathesis, with a key of each role: no 5xx, and every documented response matches its
    schema. Driven through its Python API (its pytest plugin's fixture loader does not run under
    pytest 9)."""
    import schemathesis
    from hypothesis import given
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    calls: dict[str, int] = {}
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        for role in ("analyst", "reviewer", "admin"):
            headers = {"Authorization": f"Bearer {api.keys[role]}"}

            @given(case=operation.as_strategy())
            @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                                 suppress_health_check=list(HealthCheck))
            def call(case: Any) -> None:
                # Called once, right below, inside the loop: the loop's current values are meant.
                case.call_and_validate(headers=headers,  # noqa: B023
                                       checks=[not_a_server_error, response_schema_conformance])
                calls[operation.label] = calls.get(operation.label, 0) + 1  # noqa: B023

            call()
    assert len(calls) >= 20 and sum(calls.values()) >= 20 * 3 * 5, calls
    print(f"schemathesis: {len(calls)} operations, {sum(calls.values())} calls")


# --- the console in a real browser ----------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by `make up`")
def test_a_reviewer_approves_in_the_console(api: Api, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(api.url + "/")
            page.fill("#key", api.keys["reviewer"])
            page.click("#login-form button")
            expect(page.locator("#who")).to_have_text("test reviewer (reviewer)")
            expect(page.locator("#chart-tps")).to_be_visible()
            # a locator, not wait_for_function: the console's CSP forbids evaluating strings
            expect(page.locator("#live-status")).to_contain_text("Updated")
            page.screenshot(path=str(tmp_path / "console-live.png"))
            page.click("#tabs button[data-tab=reviews]")
            row = page.locator("#reviews-table tbody tr[data-tx='api-held-3']")
            expect(row).to_be_visible()
            row.locator("input.note").fill("verified with the customer by phone")
            page.screenshot(path=str(tmp_path / "console-review.png"))
            row.locator("button.approve").click()
            expect(page.locator("#reviews-message")).to_have_text("APPROVE of api-held-3 published.")
            expect(row).to_have_count(0)
            assert errors == [], errors
        finally:
            browser.close()
    until(lambda: api.get("/v1/transactions/api-held-3").json()["postings"], 60,
          "the approved transaction's postings")
    trail = api.get("/v1/audit", role="admin", action="review.approve").json()["items"]
    assert any(r["target"] == "api-held-3" and r["detail"]["note"] == "verified with the customer by phone"
               for r in trail)
    shots = os.environ.get("PAYSTREAM_SCREENSHOTS_DIR")
    if shots:  # how docs/console-*.png were made
        import shutil
        for name in ("console-live.png", "console-review.png"):
            shutil.copy(tmp_path / name, Path(shots) / name)
