"""Warm start: the fraud state a deployment would have built had it run through the operator's
history, written where the workers read it.

A model trained on history (`paystream train --transactions`) learned from payers' profiles and
destinations' fan-in sets as the replay built them over months. Workers starting on a fresh
store see every payer as new instead, so their first weeks of features are not the ones the
model learned from. `warm` replays the history through the same feature code
(agents.fraud.replay) and writes, per payer, its profile into its account state
(version-checked: nothing else about the account changes), and per destination its fan-in set
and payments per day. Labels are not state here: `paystream label --transactions` gives them to
the labels sink. Balances are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.fraud.fanin import FAN_IN_CAP, FAN_IN_WINDOW_MS
from agents.fraud.labelrisk import DAY_MS, PAYMENT_DAYS_KEPT
from agents.store import fan_in_key, payment_days_key
from streams.accounts import (
    AccountState,
    StateClient,
    account_key,
    is_cluster,
    pack_account,
    unpack_account,
)
from streams.partitioning import partition_for

CHUNK = 1000

#: Set each account's profile if its version is still the one read; return the keys whose
#: version moved (a worker wrote them meanwhile: read again).
_SET_PROFILES = """
local moved = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local v = value and string.match(value, '^(%d+)|') or '0'
  if v == ARGV[2 * i - 1] then
    redis.call('SET', key, ARGV[2 * i])
  else
    moved[#moved + 1] = key
  end
end
return moved
"""


async def write_profiles(redis: StateClient, namespace: str, profiles: dict[str, bytes],
                         partitions: int = 1) -> int:
    """Give each account its profile, keeping the rest of its state; return accounts written.
    On a Redis Cluster the script runs per partition (`partitions`: the topics'), whose tag
    the accounts' keys carry there: a payer's partition is its key's (murmur2)."""
    script = redis.register_script(_SET_PROFILES)  # type: ignore[misc]
    by_partition: dict[int | None, list[str]] = {}
    cluster = is_cluster(redis)
    for name in sorted(profiles):
        partition = partition_for(name, partitions) if cluster else None
        by_partition.setdefault(partition, []).append(name)
    for partition, names in by_partition.items():
        await _write_profiles(redis, script, namespace, profiles, names, partition)
    return len(profiles)


async def _write_profiles(redis: StateClient, script: Any, namespace: str,
                          profiles: dict[str, bytes], names: list[str],
                          partition: int | None) -> None:
    for start in range(0, len(names), CHUNK):
        pending = names[start:start + CHUNK]
        while pending:
            keys = [account_key(namespace, n, partition) for n in pending]
            args: list[bytes | str] = []
            for name, value in zip(pending, await redis.mget(keys), strict=True):
                version, blob = unpack_account(value)
                state = AccountState.decode(blob) if blob else AccountState()
                state.profile = profiles[name]
                args += [str(version), pack_account(version + 1, state.encode())]
            moved = {key.decode() for key in await script(keys=keys, args=args)}
            pending = [n for n, key in zip(pending, keys, strict=True) if key in moved]


async def write_fan_in(redis: StateClient, namespace: str, sets: dict[str, dict[str, int]]) -> int:
    """Each destination's fan-in set as the workers keep it (ZADD GT: never moves a time back)."""
    def queue(pipe: Any, destination: str, members: dict[str, int]) -> None:
        key = fan_in_key(namespace, destination)
        pipe.zadd(key, dict(members), gt=True)
        pipe.zremrangebyrank(key, 0, -(FAN_IN_CAP + 1))
        pipe.pexpire(key, FAN_IN_WINDOW_MS)

    return await _pipelined(redis, sets, queue)


async def write_payment_days(redis: StateClient, namespace: str, days: dict[str, dict[int, int]]) -> int:
    """Each destination's payments per day (those of the kept span), as authorize counts them."""
    def queue(pipe: Any, destination: str, counts: dict[int, int]) -> None:
        key = payment_days_key(namespace, destination)
        pipe.hset(key, mapping={str(day): n for day, n in counts.items()})
        pipe.pexpire(key, PAYMENT_DAYS_KEPT * DAY_MS)

    return await _pipelined(redis, days, queue)


async def _pipelined(redis: StateClient, by_key: dict[str, Any],
                     queue: Callable[[Any, str, Any], None]) -> int:
    """`queue` the commands of every entry, CHUNK entries per round trip; return the entries."""
    items = list(by_key.items())
    for start in range(0, len(items), CHUNK):
        pipe = redis.pipeline(transaction=False)
        for name, value in items[start:start + CHUNK]:
            queue(pipe, name, value)
        await pipe.execute()
    return len(items)
