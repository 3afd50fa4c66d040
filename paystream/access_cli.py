"""`paystream access`: give each role its credentials and no more than its rights.

For a Kafka, PostgreSQL or Redis that no operator (Strimzi, CloudNativePG) manages: the local
stack runs these at `make up`. Passwords are files in a folder (one per user, made with
--generate when missing, mode 0600), read here and never printed.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

import click

from streams.errors import ConfigError, PaystreamError


def _passwords(folder: Path, users: tuple[str, ...] | list[str], generate: bool) -> dict[str, str]:
    """Each user's password from folder/<user>; missing ones made (if `generate`) or refused."""
    found: dict[str, str] = {}
    for user in users:
        path = folder / user
        if not path.exists():
            if not generate:
                raise ConfigError(f"no password for {user}: expected the file {path} "
                                  f"(--generate makes missing ones)")
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
        found[user] = path.read_text().strip()
        if not found[user]:
            raise ConfigError(f"{path} is empty: a password must not be")
    return found


@click.group()
def access() -> None:
    """Credentials and least-privilege rights for each role (Kafka, PostgreSQL, Redis)."""


_GENERATE = click.option("--generate", is_flag=True,
                         help="Make a random password for each user whose file is missing.")


@access.command("kafka")
@click.option("--passwords-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="One file per Kafka user (streams.access.KAFKA_USERS) holding its password.")
@click.option("--prefix", default=None,
              help="Topic prefix the ACLs name (default: PAYSTREAM_TOPIC_PREFIX).")
@_GENERATE
@click.pass_obj
def access_kafka(obj: Any, passwords_dir: Path, prefix: str | None, generate: bool) -> None:
    """Upsert each role's SCRAM-SHA-512 credentials and add its ACLs (idempotent). Runs as an
    admin (the broker's super user): the settings' own Kafka credentials."""
    from paystream.wiring import admin_client
    from streams.access import KAFKA_USERS, kafka_acls

    settings = obj.settings
    passwords = _passwords(passwords_dir, KAFKA_USERS, generate)
    acls = kafka_acls(settings.topic_prefix if prefix is None else prefix)
    admin = admin_client(settings)
    _upsert_scram(admin, passwords)
    added = _add_acls(admin, acls)
    click.echo(f"kafka: {len(passwords)} SCRAM users, {added} ACL bindings")


def _upsert_scram(admin: Any, passwords: dict[str, str]) -> None:
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upserts = [UserScramCredentialUpsertion(user, info, password.encode())
               for user, password in passwords.items()]
    for user, future in admin.alter_user_scram_credentials(upserts).items():
        try:
            future.result()
        except Exception as exc:
            raise PaystreamError(f"kafka: SCRAM credentials of {user}: {exc}") from exc


def _add_acls(admin: Any, acls: dict[str, list[Any]]) -> int:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    bindings = []
    for user, rules in acls.items():
        for rule in rules:
            for operation in rule.operations:
                bindings.append(AclBinding(
                    ResourceType[_RESOURCES.get(rule.resource, rule.resource.upper())],
                    rule.name or "kafka-cluster",
                    ResourcePatternType[_PATTERNS[rule.pattern]], f"User:{user}", "*",
                    AclOperation[_SNAKE.get(operation, operation.upper())],
                    AclPermissionType.ALLOW))
    for binding, future in admin.create_acls(bindings).items():
        try:
            future.result()
        except Exception as exc:
            raise PaystreamError(f"kafka: ACL {binding}: {exc}") from exc
    return len(bindings)


_SNAKE = {"IdempotentWrite": "IDEMPOTENT_WRITE"}
#: librdkafka names Kafka's CLUSTER resource type (4) BROKER.
_RESOURCES = {"cluster": "BROKER"}
#: Strimzi's pattern types (streams.access) in librdkafka's words.
_PATTERNS = {"literal": "LITERAL", "prefix": "PREFIXED"}


@access.command("postgres")
@click.option("--passwords-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="One file per role (sinks.roles.ROLES) holding its password.")
@_GENERATE
@click.pass_obj
def access_postgres(obj: Any, passwords_dir: Path, generate: bool) -> None:
    """Create or update paystream's roles (LOGIN, SCRAM-SHA-256 passwords hashed before they are
    sent), then grant them PAYSTREAM_DB_SCHEMA if it exists. Runs as a role that may create
    roles (DATABASE_URL)."""
    import psycopg
    from psycopg import sql

    from sinks.db import grant
    from sinks.roles import ROLES

    settings = obj.settings
    passwords = _passwords(passwords_dir, ROLES, generate)
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as connection:
            for role, password in passwords.items():
                verifier = connection.pgconn.encrypt_password(password.encode(), role.encode(),
                                                              b"scram-sha-256").decode()
                exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                            (role,)).fetchone()
                verb = "ALTER" if exists else "CREATE"
                connection.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(role), sql.Literal(verifier)))
            schema_exists = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (settings.db_schema,)).fetchone()
    except psycopg.Error as exc:
        raise PaystreamError(f"postgres: creating roles: {exc}") from exc
    granted = grant(settings.database_url, settings.db_schema) if schema_exists else []
    click.echo(f"postgres: {len(passwords)} roles, {len(granted)} grants in {settings.db_schema}")


@access.command("redis-acl")
@click.option("--passwords-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="One file per Redis user holding its password.")
@click.option("--server", type=click.Choice(["state", "notify"]), required=True,
              help="The account-state Redis or the notifications Redis.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The ACL file to write (mode 0600; Redis reads it with `aclfile`).")
@_GENERATE
def access_redis_acl(passwords_dir: Path, server: str, out: Path, generate: bool) -> None:
    """Write a Redis ACL file: each user with the SHA-256 of its password and its rules."""
    from streams.access import NOTIFY_REDIS_USERS, STATE_REDIS_USERS, redis_acl_lines

    users = STATE_REDIS_USERS if server == "state" else NOTIFY_REDIS_USERS
    passwords = _passwords(passwords_dir, list(users), generate)
    hashes = {u: hashlib.sha256(p.encode()).hexdigest() for u, p in passwords.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600)
    out.write_text("\n".join(redis_acl_lines(users, hashes)) + "\n")
    click.echo(f"redis {server}: {len(users)} users in {out}")
