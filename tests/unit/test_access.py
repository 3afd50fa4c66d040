"""Each role's rights: the same in the local stack (streams.access) and in Kubernetes
(Strimzi KafkaUsers), and PostgreSQL's grants never let anyone change the ledger or the audit."""

from __future__ import annotations

from pathlib import Path

import yaml

from sinks.roles import API, GRANTS, ROLES, SINK, grant_statements
from streams.access import (
    KAFKA_USERS,
    NOTIFY_REDIS_USERS,
    STATE_REDIS_USERS,
    kafka_acls,
    redis_acl_lines,
)

USERS_YAML = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "users.yaml"


def _strimzi(acl: dict) -> tuple:
    resource = acl["resource"]
    return (resource["type"], resource.get("name", ""), resource.get("patternType", "literal"),
            tuple(sorted(acl["operations"])))


def test_the_kubernetes_users_have_exactly_the_local_stacks_acls() -> None:
    users = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(USERS_YAML.read_text())}
    assert set(users) == set(KAFKA_USERS)
    for user, acls in kafka_acls().items():
        assert users[user]["spec"]["authentication"] == {"type": "scram-sha-512"}
        expected = sorted((a.resource, a.name, a.pattern, tuple(sorted(a.operations))) for a in acls)
        assert sorted(_strimzi(a) for a in users[user]["spec"]["authorization"]["acls"]) == expected, user


def test_acls_name_the_deployments_prefixed_topics_and_groups_only() -> None:
    for user, acls in kafka_acls("tenant-a.").items():
        for acl in acls:
            assert acl.resource == "cluster" or acl.name.startswith("tenant-a."), (user, acl)
    readers = {u for u, acls in kafka_acls().items() for a in acls
               if a.name == "transactions" and "Read" in a.operations}
    writers = {u for u, acls in kafka_acls().items() for a in acls
               if a.name == "transactions" and "Write" in a.operations}
    assert readers == {"paystream-worker"} and writers == {"paystream-producer"}


def test_no_role_may_change_the_ledger_or_the_audit_trail() -> None:
    tables = {t for _, _, names in GRANTS for t in names}
    statements = grant_statements("s", set(ROLES), tables)
    for statement in statements:
        privileges = statement.split(" ON ")[0]
        if '"s".ledger ' in statement or '"s".audit ' in statement:
            assert "UPDATE" not in privileges and "DELETE" not in privileges, statement
        assert "TRUNCATE" not in privileges and " ALL" not in privileges, statement
    assert f'GRANT SELECT, INSERT ON "s".ledger TO {SINK}' in statements
    assert f'GRANT SELECT, INSERT ON "s".audit TO {API}' in statements
    # The reporting sink compacts the rollups: deletes partial rows, upserts the compacted one.
    assert f'GRANT UPDATE, DELETE ON "s".report_rollup_minute TO {SINK}' in statements
    assert not any(f"INSERT ON \"s\".ledger TO {API}" in s for s in statements)


def test_grants_skip_roles_and_tables_that_do_not_exist() -> None:
    assert grant_statements("s", set(), {"ledger"}) == []
    assert grant_statements("s", {SINK}, set()) == [f'GRANT USAGE ON SCHEMA "s" TO {SINK}']


def test_the_redis_acl_file_holds_hashes_and_each_users_rules() -> None:
    lines = redis_acl_lines(STATE_REDIS_USERS, dict.fromkeys(STATE_REDIS_USERS, "ab" * 32))
    assert lines[0] == "user default on nopass ~* &* +@all"
    assert "user paystream-worker on #" + "ab" * 32 + " resetchannels ~ps:* +@all -@dangerous" in lines
    for users in (STATE_REDIS_USERS, NOTIFY_REDIS_USERS):
        assert all("-@dangerous" in rules for rules in users.values())
    assert STATE_REDIS_USERS["paystream-api"].startswith("%R~ps:*")  # reads balances only
