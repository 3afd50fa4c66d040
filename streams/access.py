"""Who may do what: each paystream role's Kafka ACLs and Redis ACL rules, in one place.

A role is a kind of process holding its own credentials: the upstream producer, the workers,
the sinks (ledger, reporting and the webhook deliverer), the API. Each may do only what its
code does; anything else (an admin's work: creating topics, reconcile) is an admin's account.
The local stack applies these (deploy/local/secure.py), and Strimzi's KafkaUsers in
deploy/k8s/base/users.yaml must say the same: a unit test holds them together. PostgreSQL's
grants live beside its tables (sinks/roles.py).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Kafka principals (SCRAM user names), one per role.
PRODUCER, WORKER, SINKS, API = ("paystream-producer", "paystream-worker", "paystream-sinks",
                                "paystream-api")
KAFKA_USERS = (PRODUCER, WORKER, SINKS, API)


@dataclass(frozen=True)
class KafkaAcl:
    resource: str        # "topic", "group" or "cluster"
    name: str            # "" for the cluster
    pattern: str         # "literal" or "prefix"
    operations: tuple[str, ...]


def kafka_acls(prefix: str = "") -> dict[str, list[KafkaAcl]]:
    """Each Kafka user's ACLs, for topics and groups named under `prefix` (the deployment's
    PAYSTREAM_TOPIC_PREFIX). Idempotent producing needs IdempotentWrite on the cluster."""
    def topic(name: str, *operations: str) -> KafkaAcl:
        return KafkaAcl("topic", prefix + name, "literal", (*operations, "Describe"))

    idempotent = KafkaAcl("cluster", "", "literal", ("IdempotentWrite",))
    return {
        # upstream also reports chargebacks and customers' reports (`paystream label`)
        PRODUCER: [topic("transactions", "Write"), topic("fraud-labels", "Write"), idempotent],
        WORKER: [topic("transactions", "Read"), topic("reviews", "Read"),
                 topic("payout-outcomes", "Read"), topic("payout-results", "Write"),
                 topic("credits", "Read", "Write"), topic("decisions", "Write"),
                 topic("postings", "Write"), topic("transactions.dlq", "Write"),
                 topic("fraud-labels", "Write"),
                 KafkaAcl("group", prefix + "paystream", "literal", ("Read", "Describe")),
                 idempotent],
        SINKS: [topic("decisions", "Read"), topic("postings", "Read"), topic("fraud-labels", "Read"),
                KafkaAcl("group", prefix + "paystream-sink-", "prefix", ("Read", "Describe"))],
        API: [topic("reviews", "Write"), topic("payout-outcomes", "Write"), idempotent],
    }


#: Redis users of the account-state server and of the notifications server. A user's keys are
#: paystream's (`ps:`); `%R~` is read-only (Redis 7 selectors). -@dangerous takes away
#: FLUSHALL, KEYS, CONFIG, DEBUG and the like: nobody but an admin needs them.
STATE_REDIS_USERS = {
    "paystream-worker": "~ps:* +@all -@dangerous",
    # the labels sink writes the label-risk sets (agents/fraud/labelrisk.py), nothing else
    "paystream-sinks": "~ps:*lr:* +@all -@dangerous",
    "paystream-api": "%R~ps:* +@read +@connection -@dangerous",
}
NOTIFY_REDIS_USERS = {
    "paystream-deliverer": "~ps:* +@all -@dangerous",
    # reads delivery state; writes only its rate limiter's counters (Lua, hence @scripting)
    "paystream-api": "%R~ps:* ~ps:*api-limits* +@all -@dangerous",
}


def redis_acl_lines(users: dict[str, str], password_hashes: dict[str, str]) -> list[str]:
    """ACL file lines (`aclfile`): the default user as the local stack's development path, then
    each user with the SHA-256 of its password (the file never holds a password)."""
    lines = ["user default on nopass ~* &* +@all"]
    for name, rules in users.items():
        lines.append(f"user {name} on #{password_hashes[name]} resetchannels {rules}")
    return lines
