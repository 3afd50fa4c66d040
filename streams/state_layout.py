"""Which layout a namespace's account state is in, and the move from the old one.

Until 2026-12-01 an account was a hash (`a:<account>`: v, s); now it is one packed string
(`ac:<account>`: "<version>|<state>", streams/accounts.py), read and written by MGET and MSET.
A worker of this build must never run beside hashes it cannot see: it would take every such
account for new and overwrite its balance. So a worker checks at start (`check`), and
`paystream state-migrate` converts a namespace (`migrate`), with the workers stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from streams.accounts import LAYOUT, account_key, layout_key, legacy_account_key, scan_chunks
from streams.errors import ConfigError

#: Per old key: the new one must not exist yet (a worker of this build wrote it: the namespace
#: was used by both layouts, which needs a person to look), then the value moves over.
_MOVE = """
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    return {'both', KEYS[i], KEYS[i + 1]}
  end
  local vs = redis.call('HMGET', KEYS[i], 'v', 's')
  if vs[2] then
    redis.call('SET', KEYS[i + 1], (vs[1] or '0') .. '|' .. vs[2])
  end
  redis.call('DEL', KEYS[i])
end
return 'ok'
"""


async def check(redis: Redis, namespace: str) -> None:
    """Return if the namespace is in this build's layout (marking a new one); raise ConfigError
    if it still holds accounts in the old one."""
    marker = await redis.get(layout_key(namespace))
    if marker == LAYOUT:
        return
    if marker is not None:
        raise ConfigError(f"account state of {namespace!r} is in layout {marker.decode()!r}; "
                          f"this build reads {LAYOUT.decode()!r}: run a build that knows it")
    async for _ in redis.scan_iter(match=f"{legacy_account_key(namespace, '')}*", count=1000):
        raise ConfigError(
            f"account state of {namespace!r} is in the layout before 2026-12-01 (a hash per "
            f"account): stop every worker and run `paystream state-migrate` (same REDIS_URL "
            f"and PAYSTREAM_TOPIC_PREFIX), then start them again")
    await redis.set(layout_key(namespace), LAYOUT, nx=True)


async def migrate(redis: Redis, namespace: str, chunk: int = 1000,
                  progress: Callable[[int], None] | None = None) -> int:
    """Move every account of the namespace to the packed layout and mark it; return how many.
    Safe to run again after an interruption (what moved is gone from the old keys)."""
    move = redis.register_script(_MOVE)
    prefix = legacy_account_key(namespace, "")
    moved = 0

    async def move_all(keys: list[bytes]) -> None:
        nonlocal moved
        old = [key.decode() for key in keys]
        pairs = [k for key in old for k in (key, account_key(namespace, key[len(prefix):]))]
        reply = await move(keys=pairs)
        if reply != b"ok":
            raise ConfigError(f"account {reply[1].decode()!r} is stored in both layouts "
                              f"({reply[2].decode()!r} too): a worker of the new build ran "
                              f"before the migration; compare the two and keep one by hand")
        moved += len(old)
        if progress is not None:
            progress(moved)

    found = True
    while found:  # keys deleted under a SCAN are fine; a second pass finds any it skipped
        found = False
        async for keys in scan_chunks(redis, f"{prefix}*", chunk):
            found = True
            await move_all(keys)
    await redis.set(layout_key(namespace), LAYOUT)
    return moved
