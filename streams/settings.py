"""Typed settings read from the environment, defaulting to the local stack (deploy/local).

Connection settings use the names every Kafka/PostgreSQL/Redis user knows
(KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, REDIS_URL, SCHEMA_REGISTRY_URL); paystream's own knobs
are prefixed PAYSTREAM_. A bad value stops the program at start, naming the variable to fix.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import ConfigError

#: How a batch's write reaches the account-state Redis (Settings.state_commit; agents/store.py).
StateCommit = Literal["auto", "module", "lua"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    database_url: str = Field(
        "postgresql://paystream@127.0.0.1:15432/paystream",
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    redis_url: str = Field("redis://127.0.0.1:16379/0", validation_alias=AliasChoices("REDIS_URL"))
    #: true: REDIS_URL names a node of a Redis Cluster, and the account state spreads over its
    #: masters by partition (docs/design.md "Past one Redis"); false: one Redis server.
    redis_cluster: bool = Field(False, validation_alias=AliasChoices("REDIS_CLUSTER"))
    #: How long a worker waits for a reply of the account-state Redis (seconds). redis-py waits
    #: forever by default: one connection whose server went silent (a half-open socket, a node
    #: paused by its host) would stall an agent with no error and no log line. A timeout is a
    #: retriable StateStoreError: the batch is retried on a new connection and the log says so.
    #: A batch's scripts take milliseconds: the default is never a slow reply.
    redis_reply_timeout_s: float = Field(30.0, gt=0, le=3600)
    #: How a batch's write reaches the account-state Redis: "module", paystream's compiled
    #: command (native/redis, loaded into the server: ~a third less of Redis's CPU, measured in
    #: docs/benchmarks.md 2026-12-07 afternoon); "lua", the script agents/commit.lua (any Redis
    #: 7, a managed one too); "auto", the module where the server has it, else the script. Both
    #: write the same keys and the same AOF, so a server may gain or lose the module at a restart.
    state_commit: StateCommit = "auto"
    #: How every Kafka client of paystream connects (librdkafka's and Kafka's own names):
    #: PLAINTEXT locally; SASL_SSL with SCRAM in production (docs/operations.md).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL"))
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM"))
    kafka_sasl_username: str = Field("", validation_alias=AliasChoices("KAFKA_SASL_USERNAME"))
    #: A secret: never printed (SecretStr), best given as a file (PAYSTREAM_SECRETS_DIR).
    kafka_sasl_password: SecretStr = Field(SecretStr(""),
                                           validation_alias=AliasChoices("KAFKA_SASL_PASSWORD"))
    #: The CA that signed the brokers' certificates (PEM); empty: the system's CAs.
    kafka_ssl_ca_location: str = Field("", validation_alias=AliasChoices("KAFKA_SSL_CA_LOCATION"))
    #: When set, messages use the Confluent wire format and this registry; else single-object Avro.
    schema_registry_url: str | None = Field(
        None, validation_alias=AliasChoices("SCHEMA_REGISTRY_URL")
    )

    #: Prepended to every topic name, so tests and tenants never see each other's data.
    topic_prefix: str = ""
    #: Partitions per topic. Fixed once topics exist: an account's partition must never move.
    partitions: int = Field(12, ge=1, le=1024)
    #: How far in the future (by the wall clock) an event time may lie before it is absurd.
    max_clock_skew_ms: int = Field(3_600_000, ge=0)
    #: A tx_id is never applied twice within this much event time; older transactions are stale.
    dedupe_window_ms: int = Field(86_400_000, ge=60_000)
    #: Redis for notification events: a failure domain of its own (empty: REDIS_URL).
    notify_redis_url: str = Field("redis://127.0.0.1:16380/0",
                                  validation_alias=AliasChoices("NOTIFY_REDIS_URL"))
    #: Partner webhooks (TOML: [partners.<id>] url, secret_env, kinds); needed by `paystream notify`.
    partners_path: str = ""
    #: PostgreSQL schema holding the sinks' tables (ledger, reporting); one per tenant or test.
    db_schema: str = Field("paystream", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: Rules file (TOML); empty means the shipped agents/rules.toml.
    rules_path: str = ""
    #: FX quotes for payouts (TOML, streams/quotes.py); empty: none, every PAYOUT is declined.
    quotes_path: str = ""
    #: Folder of fraud model versions (`paystream train` writes them there).
    models_dir: str = "models"
    #: The model that decides: "latest" (the version `paystream model promote` named last, else
    #: the newest; a change is picked up without a restart) or a version such as fraud-v0003.
    model: str = Field("latest", pattern=r"^(latest|fraud-v\d{4,})$")
    #: How often a worker looks for a newer model version (seconds).
    model_check_s: float = Field(5.0, gt=0, le=3600)
    #: A model scored and recorded next to the active one but never acted on; empty for none
    #: ("latest": the newest version, whatever is promoted).
    shadow_model: str = Field("", pattern=r"^(|latest|fraud-v\d{4,})$")
    #: How long a worker's fetch may wait at the broker for `fetch_min_bytes` to accumulate (ms).
    #: Kafka's broker CPU goes with its request count: with the clients' default (return as soon
    #: as one record is there) a worker sent hundreds of fetches a second at moderate load; with
    #: 25 ms an idle worker cost itself and the broker ~9% of a core more than with 100 ms. Below
    #: the max rate a fetch's records are a worker's next batch: at 250 ms they are ~2.5x those at
    #: 100, and each transaction cost the whole machine 15-17% less at 70% of the max rate, which
    #: left room for an autovacuum round without a queue: p99 449 / 463 ms against 610 / 552 at
    #: 100, for a p50 of 272 / 279 ms against 174 / 239 (docs/benchmarks.md, 2026-12-06 evening).
    worker_fetch_wait_ms: int = Field(250, ge=0, le=5000)
    #: How long a sink's fetch may wait at the broker for `fetch_min_bytes` (ms; librdkafka's own
    #: default). A sink is no latency target: under load its fetches return full at once, and
    #: caught up, each fetch that waits less is a request more. Two workers and the three sinks
    #: with nothing to do cost the broker 2.78 / 2.38% of a core at 100 ms, 1.92 / 1.93 at 500
    #: (the broker alone: 1.38; loadtest/results/lowfloor-2026-12-08/idle_probe.txt).
    sink_fetch_wait_ms: int = Field(500, ge=0, le=5000)
    #: The same for the webhook deliverer (`paystream notify`), whose wait a partner's event
    #: waits when traffic is light.
    notify_fetch_wait_ms: int = Field(100, ge=0, le=5000)
    #: Bytes a fetch waits for (up to its wait): at high rates fetches return at once, full.
    fetch_min_bytes: int = Field(262_144, ge=1, le=52_428_800)

    #: Where a long-running process (worker, sink, deliverer, API) serves Prometheus metrics on
    #: 127.0.0.1 (0: a free port; the port is logged at start either way).
    metrics_port: int = Field(0, ge=0, le=65535)
    #: The address it listens on: loopback here; 0.0.0.0 in a container, for Prometheus.
    metrics_host: str = "127.0.0.1"
    #: A folder where each such process also writes a Prometheus file_sd target naming its port
    #: (empty: none); the local stack's `env` points it at its Prometheus' folder.
    metrics_targets_dir: str = ""

    # --- the analysts' API (`paystream api`) ---
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    #: Requests per key, as the `limits` library reads it ("600/minute", "20/second").
    api_rate_limit: str = Field("600/minute", pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$")
    #: Redis for the rate limiter's counters; database 1 of the notifications Redis by default,
    #: away from the account state the workers depend on.
    api_redis_url: str = Field("redis://127.0.0.1:16380/1")
    #: Origins allowed to call the API from a browser (comma-separated); empty: CORS off.
    api_cors_origins: str = ""
    #: Largest request body accepted (bytes): the API's bodies are a note or a key's name.
    api_max_body_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    #: Longest time range one search, report or export may cover (days).
    api_max_range_days: int = Field(31, ge=1, le=3660)
    #: PostgreSQL connections the API keeps.
    api_pool_size: int = Field(10, ge=1, le=100)
    #: Seconds a settled report bucket is kept in the API's memory (api/reportcache.py; 0: not
    #: kept): how long a report of past buckets may lag a late-arriving transaction.
    api_report_cache_s: float = Field(60.0, ge=0, le=86_400)

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"expected postgresql://user@host:port/db, got {_redacted(value)!r}")
        return value

    @field_validator("redis_url", "notify_redis_url", "api_redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected redis://host:port/db, got {_redacted(value)!r}")
        return value

    def to_env(self) -> dict[str, str]:
        """Every setting as the variable that sets it (secrets in clear, unset ones left out):
        how a process hands its exact settings to the paystream processes it starts
        (paystream/launch.py). `Settings()` in the child reads back an equal object."""
        env = {}
        for field in type(self).model_fields:
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[env_name(field)] = str(value)
        return env

    @model_validator(mode="after")
    def _cluster_tags_hold(self) -> Settings:
        # A key's hash tag is its first {...}: braces in the prefix would move every key's slot.
        if self.redis_cluster and ("{" in self.topic_prefix or "}" in self.topic_prefix):
            raise ValueError(f"REDIS_CLUSTER=true needs a PAYSTREAM_TOPIC_PREFIX without braces "
                             f"(got {self.topic_prefix!r}): Redis Cluster hashes the first {{...}} "
                             f"of a key")
        return self

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not (
                self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        return self


def _redacted(url: str) -> str:
    """A URL with its password (if any) hidden, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def kafka_security(settings: Settings) -> dict[str, str]:
    """librdkafka's security settings for every confluent-kafka client (nothing for PLAINTEXT)."""
    config: dict[str, str] = {}
    if settings.kafka_security_protocol != "PLAINTEXT":
        config["security.protocol"] = settings.kafka_security_protocol
    if settings.kafka_security_protocol.startswith("SASL"):
        config.update({"sasl.mechanism": settings.kafka_sasl_mechanism,
                       "sasl.username": settings.kafka_sasl_username,
                       "sasl.password": settings.kafka_sasl_password.get_secret_value()})
    if settings.kafka_security_protocol.endswith("SSL") and settings.kafka_ssl_ca_location:
        config["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return config


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of an aiokafka client (None for a protocol without TLS)."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    return ssl.create_default_context(cafile=settings.kafka_ssl_ca_location or None)


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """An aiokafka client's security arguments (the workers' output producer, agents.outbox; the
    load generator's replay, streams.replay), from the same settings as every confluent-kafka
    client (kafka_security)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol,
                               "ssl_context": kafka_ssl_context(settings)}
    if protocol.startswith("SASL"):
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password.get_secret_value())
    return options


#: A confluent-kafka client's configuration, as its constructors type it.
KafkaConfig = dict[str, str | int | float | bool]


def kafka_client_config(settings: Settings) -> KafkaConfig:
    """bootstrap.servers and the security settings: the base of every confluent-kafka client."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, **kafka_security(settings)}


def notify_redis_url(settings: Settings) -> str:
    return settings.notify_redis_url or settings.redis_url


def env_name(field: str) -> str:
    """The environment variable that sets `field`: its alias (KAFKA_BOOTSTRAP_SERVERS...) or
    PAYSTREAM_<FIELD>. An alias is returned as it is (pydantic reports errors by alias)."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"PAYSTREAM_{field.upper()}"


def load_settings() -> Settings:
    """Read settings from the environment, or raise ConfigError naming each bad variable.

    With PAYSTREAM_SECRETS_DIR (e.g. /run/secrets, where compose and Kubernetes mount secrets),
    a file there named after a variable in lower case (`database_url`) gives its value, so a
    password never has to sit in the environment; the environment still wins."""
    secrets_dir = os.environ.get("PAYSTREAM_SECRETS_DIR") or None
    if secrets_dir is not None and not os.path.isdir(secrets_dir):
        raise ConfigError(f"PAYSTREAM_SECRETS_DIR: {secrets_dir!r} is not a directory")
    try:
        return Settings(_secrets_dir=secrets_dir)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a rule across settings: its message names them
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            problems.append(f"{env_name(str(error['loc'][0]))}: {error['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from exc


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
