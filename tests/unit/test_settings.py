"""Settings: local-stack defaults, and a bad value stops the program naming the variable."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.settings import load_settings
from streams.topics import topics


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL", "SCHEMA_REGISTRY_URL",
                 "PAYSTREAM_TOPIC_PREFIX", "PAYSTREAM_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.database_url == "postgresql://paystream@127.0.0.1:15432/paystream"
    assert settings.redis_url == "redis://127.0.0.1:16379/0"
    assert settings.schema_registry_url is None
    assert settings.partitions == 12


@pytest.mark.parametrize("name, value", [
    ("KAFKA_BOOTSTRAP_SERVERS", "localhost"),
    ("DATABASE_URL", "mysql://x@y/z"),
    ("REDIS_URL", "127.0.0.1:6379"),
    ("PAYSTREAM_PARTITIONS", "0"),
    ("PAYSTREAM_PARTITIONS", "many"),
])
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_a_cluster_refuses_a_prefix_with_braces(monkeypatch: pytest.MonkeyPatch) -> None:
    # A key's first {...} is its Redis Cluster hash tag: a brace in the prefix would move every
    # key off its partition's slot, and a batch's script would be refused.
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    monkeypatch.setenv("PAYSTREAM_TOPIC_PREFIX", "tenant{a}.")
    with pytest.raises(ConfigError, match="PAYSTREAM_TOPIC_PREFIX without braces"):
        load_settings()
    monkeypatch.setenv("PAYSTREAM_TOPIC_PREFIX", "tenant-a.")
    assert load_settings().redis_cluster


def test_topic_names_carry_the_prefix() -> None:
    names = [spec.name for spec in topics("t1.", 3).all()]
    assert names == ["t1.transactions", "t1.transactions.dlq", "t1.decisions", "t1.postings",
                     "t1.credits", "t1.reviews", "t1.fraud-labels", "t1.payout-outcomes",
                     "t1.payout-results"]
    assert all(spec.partitions == 3 for spec in topics("t1.", 3).all())


def test_secrets_come_from_mounted_files_and_the_environment_still_wins(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "database_url").write_text("postgresql://app:from-a-file@db:5432/paystream")
    (tmp_path / "redis_url").write_text("redis://:from-a-file@redis:6379/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("PAYSTREAM_SECRETS_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url == "postgresql://app:from-a-file@db:5432/paystream"
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    monkeypatch.setenv("PAYSTREAM_SECRETS_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="PAYSTREAM_SECRETS_DIR"):
        load_settings()


def test_to_env_hands_a_child_exactly_these_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    from paystream.launch import environment
    from streams.settings import Settings

    given = Settings(topic_prefix="t9.", partitions=3, model_check_s=2.5, redis_url="redis://h:1/2",
                     kafka_security_protocol="SASL_SSL", kafka_sasl_username="u",
                     kafka_sasl_password=SecretStr("pw"), api_cors_origins="https://a,https://b")
    env = given.to_env()
    assert env["PAYSTREAM_TOPIC_PREFIX"] == "t9." and env["REDIS_URL"] == "redis://h:1/2"
    assert env["KAFKA_SASL_PASSWORD"] == "pw"  # in clear: the child must be able to connect
    assert "SCHEMA_REGISTRY_URL" not in env  # unset stays unset
    for name in list(env):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYSTREAM_PARTITIONS", "7")  # the parent's own environment loses
    for name, value in environment(given, PAYSTREAM_DB_SCHEMA="other").items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    assert child == given.model_copy(update={"db_schema": "other"})
