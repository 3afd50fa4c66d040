"""The whole pipeline over TLS with each role's own credentials, and what each server refuses.

Every process connects as its role (streams/access.py, sinks/roles.py), with the local stack's
CA and the passwords `make up` made: the producer, the worker, the sinks and the webhook
deliverer over Kafka's SASL_SSL listener (SCRAM-SHA-512), the sinks and the API to PostgreSQL
over TLS, the worker and the deliverer to Redis over TLS. Reconcile (an admin's work) then
checks every topic and store. A client without credentials, with a wrong password or asking for
more than its role may do is refused by Kafka, PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import redis
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from paystream.launch import run
from streams.settings import Settings
from streams.topics import topics
from tests.conftest import USE_CONTAINERS, clean_redis_namespace
from tests.e2e.harness import (
    Worker,
    free_port,
    publish_generated,
    reconcile,
    with_partner,
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    USE_CONTAINERS, reason="the secured listeners and roles are the local stack's (make up)")]

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("PAYSTREAM_STATE_DIR", REPO / ".local"))
CA = STATE_DIR / "tls" / "ca.crt"
SASL = f"127.0.0.1:{os.environ.get('PAYSTREAM_KAFKA_SASL_PORT', '19094')}"
REDIS_TLS = {"state": int(os.environ.get("PAYSTREAM_REDIS_TLS_PORT", "16389")),
             "notify": int(os.environ.get("PAYSTREAM_NOTIFY_REDIS_TLS_PORT", "16390"))}
PG_PORT = int(os.environ.get("PAYSTREAM_PG_PORT", "15432"))
TRANSACTIONS = 5_000


def password(system: str, user: str) -> str:
    return (STATE_DIR / "secrets" / system / user).read_text().strip()


def kafka_env(user: str) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": password("kafka", user), "KAFKA_SSL_CA_LOCATION": str(CA)}


def kafka_config(user: str, secret: str | None = None) -> dict[str, Any]:
    return {"bootstrap.servers": SASL, "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user,
            "sasl.password": password("kafka", user) if secret is None else secret,
            "ssl.ca.location": str(CA)}


def database_url(role: str, secret: str | None = None, sslmode: str = "verify-full") -> str:
    secret = password("postgres", role) if secret is None else secret
    return (f"postgresql://{role}:{quote(secret, safe='')}@127.0.0.1:{PG_PORT}/paystream"
            f"?sslmode={sslmode}&sslrootcert={CA}")


def redis_url(server: str, user: str, db: int = 0, secret: str | None = None) -> str:
    secret = password("redis", user) if secret is None else secret
    return (f"rediss://{user}:{quote(secret, safe='')}@127.0.0.1:{REDIS_TLS[server]}/{db}"
            f"?ssl_ca_certs={CA}")


@pytest.fixture
def secured(db_settings: Settings) -> Settings:
    """db_settings whose topic prefix the roles' ACLs name (the stack granted only its own)."""
    result = run(
        db_settings, "access", "kafka", "--passwords-dir", str(STATE_DIR / "secrets" / "kafka"),
        "--prefix", db_settings.topic_prefix, timeout=120)
    assert result.returncode == 0, result.stderr
    return db_settings


def test_the_pipeline_runs_over_tls_with_each_roles_credentials(
        secured: Settings, notify_redis_url: str, tmp_path: Path) -> None:
    settings, port, secret = with_partner(secured, secured.redis_url, notify_redis_url, tmp_path,
                                          "webhook-secret")
    producer = settings.model_copy(update={
        "kafka_bootstrap_servers": SASL, "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "paystream-producer", "kafka_ssl_ca_location": str(CA),
        "kafka_sasl_password": SecretStr(password("kafka", "paystream-producer"))})
    publish_generated(producer, TRANSACTIONS, seed=5, accounts=500)
    worker = Worker(settings, tmp_path, "worker", env={
        **kafka_env("paystream-worker"), "REDIS_URL": redis_url("state", "paystream-worker")})
    sinks = Worker(settings, tmp_path, "sinks", command=("sink", "all"), env={
        **kafka_env("paystream-sinks"), "DATABASE_URL": database_url("paystream_sink"),
        "REDIS_URL": redis_url("state", "paystream-sinks")})  # the label-risk sets
    notify = Worker(settings, tmp_path, "notify", command=("notify",), env={
        **kafka_env("paystream-sinks"), **secret,
        "NOTIFY_REDIS_URL": redis_url("notify", "paystream-deliverer")})
    receiver = Worker(settings, tmp_path, "receiver", env=secret,
                      command=("webhook-receiver", "--port", str(port)))
    api_port = free_port()
    api = Worker(settings, tmp_path, "api", command=("api", "--port", str(api_port)), env={
        **kafka_env("paystream-api"), "DATABASE_URL": database_url("paystream_api"),
        "REDIS_URL": redis_url("state", "paystream-api"),
        "NOTIFY_REDIS_URL": redis_url("notify", "paystream-api"),
        "PAYSTREAM_API_REDIS_URL": redis_url("notify", "paystream-api", db=1)})
    processes = (receiver, worker, sinks, notify, api)
    for process in processes[:-1]:
        process.start()
    try:
        code, summary = reconcile(settings, 300, "--sinks", workers=processes[:-1])  # as the admin, on the plain path
        api.start()
        served = _use_the_api(settings, f"http://127.0.0.1:{api_port}")
    finally:
        for process in processes:
            process.stop()
        clean_redis_namespace(settings.redis_url, settings.topic_prefix)
    logs = "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in processes)
    assert code == 0, f"{summary}\n{logs}"
    assert summary["decisions"] + summary["dead_lettered"] == TRANSACTIONS, summary
    assert summary["ledger_rows"] > 0 and summary["notification_deliveries"] > 0, summary
    assert served["readyz"]["checks"] == {"postgresql": "ok", "kafka": "ok"}, served
    assert served["balance"]["account"] == served["account"], served
    assert served["approved"]["action"] == "APPROVE" and served["new_key"]["role"] == "analyst"
    assert {"review.approve", "key.create"} <= {e["action"] for e in served["audit"]["items"]}


def _use_the_api(settings: Settings, base: str) -> dict[str, Any]:
    """As an admin key (made by the owner's CLI): readiness, a held payment approved (published
    to Kafka, recorded and audited), the payer's balance (Redis), a key created, the audit."""
    key = run(settings, "api", "keys", "create", "--role", "admin", "--name", "secure test",
              check=True).stdout.strip().splitlines()[-1]

    def call(path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            base + path, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as failed:
            raise AssertionError(f"{path}: {failed.code} {failed.read()[:300]!r}") from None

    deadline = time.monotonic() + 60
    while True:
        try:
            readyz = call("/readyz")
            break
        except (OSError, AssertionError):
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.5)
    held = call("/v1/reviews")["items"]
    assert held, "no payment was held for review"
    approved = call(f"/v1/reviews/{held[0]['tx_id']}/approve", {"note": "secure test"})
    return {"readyz": readyz, "account": held[0]["account"], "approved": approved,
            "balance": call(f"/v1/accounts/{held[0]['account']}"),
            "new_key": call("/v1/keys", {"role": "analyst", "name": "made by the API"}),
            "audit": call("/v1/audit")}


def test_kafka_refuses_no_credentials_a_wrong_password_and_rights_a_role_lacks(
        secured: Settings) -> None:
    names = topics(secured.topic_prefix, secured.partitions)
    plain = {"bootstrap.servers": SASL, "security.protocol": "SSL", "ssl.ca.location": str(CA)}
    for config in (plain, kafka_config("paystream-worker", "not-its-password")):
        admin = AdminClient({**config, "socket.timeout.ms": 5000})
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=5)
    # The producer may write transactions, not read decisions; the sinks may not write transactions.
    consumer = Consumer({**kafka_config("paystream-producer"), "group.id": "paystream-sink-x",
                         "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([names.decisions.name])
        message = consumer.poll(15)
        assert message is not None and message.error() is not None
        assert "AUTHORIZATION" in message.error().name(), message.error()
    finally:
        consumer.close()
    errors: list[Any] = []
    producer = Producer({**kafka_config("paystream-sinks"), "message.timeout.ms": 10000})
    producer.produce(names.transactions.name, b"x", on_delivery=lambda err, _: errors.append(err))
    producer.flush(15)
    assert errors and errors[0] is not None and "AUTHORIZATION" in errors[0].name(), errors
    own = Producer(kafka_config("paystream-producer"))
    own.produce(names.dlq.name, b"x", on_delivery=lambda err, _: errors.append(err))
    own.flush(15)
    assert errors[1] is not None and "AUTHORIZATION" in errors[1].name(), errors


def test_postgresql_refuses_no_password_a_wrong_one_plaintext_and_writes_a_role_lacks(
        db_settings: Settings) -> None:
    schema = db_settings.db_schema
    for url in (database_url("paystream_sink", "wrong"), database_url("paystream_sink", ""),
                database_url("paystream_sink", sslmode="disable")):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5).close()
    with psycopg.connect(database_url("paystream_sink"), autocommit=True) as sink:
        sink.execute(f'SET search_path = "{schema}"')
        assert sink.execute("SELECT count(*) FROM ledger").fetchone() == (0,)
        for statement in ("UPDATE ledger SET amount = 0", "DELETE FROM ledger",
                          "TRUNCATE ledger", "SELECT * FROM api_keys",
                          ("INSERT INTO audit (actor, role, action, target, request_id) "
                           "VALUES ('a', 'b', 'c', 'd', 'e')")):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                sink.execute(statement)
    with psycopg.connect(database_url("paystream_api"), autocommit=True) as api:
        api.execute(f'SET search_path = "{schema}"')
        api.execute("INSERT INTO audit (actor, role, action, target, request_id) "
                    "VALUES ('test', 'admin', 'test.write', 'x', 'r1')")
        for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit",
                          "INSERT INTO ledger SELECT * FROM ledger",
                          "UPDATE api_keys SET role = 'admin'",  # only revoked_at
                          "DELETE FROM report_transactions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                api.execute(statement)
    with psycopg.connect(database_url("paystream_analyst"), autocommit=True) as analyst:
        analyst.execute(f'SET search_path = "{schema}"')
        analyst.execute("SELECT count(*) FROM report_transactions")
        for statement in ("SELECT count(*) FROM ledger", "SELECT count(*) FROM audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                analyst.execute(statement)


def test_redis_refuses_a_wrong_password_and_what_a_role_may_not_do() -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(redis_url("state", "paystream-worker", secret="wrong")).ping()
    with pytest.raises(redis.ConnectionError):  # TLS only on the TLS port
        redis.Redis(host="127.0.0.1", port=REDIS_TLS["state"], socket_timeout=3).ping()
    worker = redis.Redis.from_url(redis_url("state", "paystream-worker"))
    api = redis.Redis.from_url(redis_url("state", "paystream-api"))
    deliverer = redis.Redis.from_url(redis_url("notify", "paystream-deliverer"))
    sinks = redis.Redis.from_url(redis_url("state", "paystream-sinks"))
    try:
        key = f"ps:secure-test-{os.getpid()}"
        assert worker.set(key, "1") and api.get(key) == b"1"
        refused = [worker.flushall, lambda: worker.set("not-paystream", 1),
                   lambda: worker.keys("*"), lambda: api.set(key, "2"), lambda: api.delete(key),
                   lambda: deliverer.config_get("*"), deliverer.flushdb,
                   lambda: sinks.get(key), lambda: sinks.set(key, "3")]  # label-risk sets only
        for attempt in refused:
            with pytest.raises(redis.exceptions.NoPermissionError):
                attempt()
        assert sinks.zadd(f"{key}lr:test", {"m": 1}) == 1 and sinks.delete(f"{key}lr:test") == 1
        assert worker.delete(key) == 1
    finally:
        for client in (worker, api, deliverer, sinks):
            client.close()
