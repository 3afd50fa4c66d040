"""Account state in Redis: one read script and one atomic Lua write per batch.

Why Redis (measured, see docs/design.md "Where account state lives"): workers stay stateless, a batch's
state, transaction records and outputs (the outbox) commit in one atomic step, tx_id dedupe is
global rather than per partition, and the API can read balances directly.

Keys, under `ps:<topic prefix>`:
  ac:<account>       "<version>|<AccountState, msgpack>" (streams/accounts.py)
  t:<tx_id>          hash h (body hash) s (status) c (credited) a (held: source) k (kept)
  tx:<partition>     sorted set of tx_ids by event time: a record is deleted once its
                     partition's event-time mark is more than the dedupe window past it
                     (exactly when a retry becomes stale), unless the transaction is HELD
  et:<partition>     highest event time applied in the transactions partition
  holds:<partition>  sorted set of "<account>|<tx_id>" by hold expiry (ms)
  ob:<role>:<partition>  outbox: hash batch id -> encoded outputs not yet confirmed sent
  fi:<account>       sorted set of payer -> last payment time: the fan-in set of a destination
                     (agents/fraud/fanin.py), at most FAN_IN_CAP members, expires when idle
  pd:<account>       hash day (of event time) -> payments to the account as destination, the last
                     PAYMENT_DAYS_KEPT days (the fraud rates' denominators)
  lr:<account>       sorted set of the fraud labels naming the account as destination or payer,
                     by the transaction's event time (agents/fraud/labelrisk.py; written by the
                     labels sink, read here); lr:device|<device id> the same for a device
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import hiredis
import msgpack
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents.batch import BatchResult, OutputMessage, StateView
from agents.fraud.fanin import FAN_IN_CAP, FAN_IN_WINDOW_MS, Payment, Seen
from agents.fraud.labelrisk import PAYMENT_DAYS_KEPT, Entry, device_name
from agents.ports import StateConflictError
from streams.accounts import (
    AccountState,
    account_key,
    holds_key,
    pack_account,
    scan_chunks,
    tx_key,
    unpack_account,
)
from streams.errors import ConfigError, StateStoreError


@contextmanager
def _unavailable_is_retriable() -> Iterator[None]:
    """Redis unreachable, restarting or slow becomes StateStoreError (retriable): the worker
    decides from `retriable` alone (agents/workers.py), without knowing redis-py's errors.
    Anything else Redis says (a script error, out of memory) stays what it is: not retriable."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:  # OSError: TimeoutError too
        raise StateStoreError(f"account-state store unavailable: {exc!r}") from exc


class RedisStateStore:
    def __init__(self, redis: Redis, namespace: str, tx_ttl_s: int, window_ms: int) -> None:
        self._redis = redis
        self._namespace = namespace
        self._ns = f"ps:{namespace}"
        # the readers' layout (streams.accounts), as prefixes: a key is one concatenation
        self._account_prefix = account_key(namespace, "")
        self._tx_prefix = tx_key(namespace, "")
        self._tx_ttl_s = tx_ttl_s
        self._window_ms = window_ms
        scripts = resources.files("agents")
        self._read = redis.register_script(scripts.joinpath("read.lua").read_text())
        self._commit = redis.register_script(scripts.joinpath("commit.lua").read_text())

    async def _evalsha(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA with the command packed by hiredis (C) rather than redis-py's Python packer:
        a batch's read and commit carry thousands of arguments, and packing them was ~8% of a
        worker's CPU (py-spy, 2026-11-30). A server that lost the script gets it loaded by the
        regular path."""
        packed = hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
        pool = self._redis.connection_pool
        with _unavailable_is_retriable():
            connection = await pool.get_connection()
            try:
                await connection.send_packed_command(packed)
                return await connection.read_response()
            except NoScriptError:
                return await script(keys=keys, args=args)
            except BaseException:
                await connection.disconnect()  # a reply may be half-read: never reuse it
                raise
            finally:
                await pool.release(connection)

    def account_key(self, account: str) -> str:
        return self._account_prefix + account

    def tx_key(self, tx_id: str) -> str:
        return self._tx_prefix + tx_id

    def _event_time_key(self, partition: int) -> str:
        return f"{self._ns}et:{partition}"

    def _tx_index_key(self, partition: int) -> str:
        return f"{self._ns}tx:{partition}"

    def _holds_key(self, partition: int) -> str:
        return holds_key(self._namespace, partition)

    def _fan_in_key(self, destination: str) -> str:
        return fan_in_key(self._namespace, destination)

    def label_risk_key(self, account: str) -> str:
        return label_risk_key(self._namespace, account)

    def outbox_key(self, role: str, partition: int) -> str:
        return f"{self._ns}ob:{role}:{partition}"

    async def read(self, accounts: set[str], tx_ids: set[str], partitions: set[int],
                   payments: dict[str, Payment] | None = None) -> StateView:
        """Everything a batch needs, in one round trip and one command (agents/read.lua).

        `payments` (by tx_id) are the batch's payments whose fan-in and label risk (of payer,
        destination and device) the authorizer needs.
        """
        names, ids, parts = sorted(accounts), sorted(tx_ids), sorted(partitions)
        paying = list((payments or {}).items())
        named = sorted({a for _, p in paying for a in (p.payer, p.destination)}
                       | {device_name(p.device) for _, p in paying if p.device})
        keys = ([self.account_key(n) for n in names] + [self.tx_key(t) for t in ids]
                + [self._event_time_key(p) for p in parts]
                + [self.label_risk_key(a) for a in named]
                + [payment_days_key(self._namespace, a) for a in named]
                + [self._fan_in_key(p.destination) for _, p in paying])
        args: list[Any] = [len(names), len(ids), len(parts), len(named)]
        for _, payment in paying:
            args += [payment.since_ms, payment.payer]
        reply = await self._evalsha(self._read, keys, args)
        view = StateView({}, {}, {}, {}, strict=True)
        for name, value in zip(names, reply, strict=False):
            version, blob = unpack_account(value)
            view.versions[name] = version
            if blob:
                view.accounts[name] = AccountState.decode(blob)
        offset = len(names)
        for tx_id, fields in zip(ids, reply[offset:offset + len(ids)], strict=True):
            if fields:
                view.tx_records[tx_id] = {fields[j].decode(): fields[j + 1].decode()
                                          for j in range(0, len(fields), 2)}
        offset += len(ids)
        for partition, value in zip(parts, reply[offset:offset + len(parts)], strict=True):
            view.partition_event_time[partition] = int(value)
        offset += len(parts)
        for k, account in enumerate(named):
            flat, days = reply[offset + 2 * k], reply[offset + 2 * k + 1]
            if flat:
                view.label_risk[account] = [Entry.parse(flat[j].decode(), float(flat[j + 1]))
                                            for j in range(0, len(flat), 2)]
            if days:
                view.payment_days[account] = {int(days[j]): int(days[j + 1])
                                              for j in range(0, len(days), 2)}
        offset += 2 * len(named)
        for i, (tx_id, _) in enumerate(paying):
            view.fan_in[tx_id] = Seen(int(reply[offset + 2 * i]), int(float(reply[offset + 2 * i + 1])))
        return view

    async def commit(self, view: StateView, result: BatchResult, role: str,
                     batch_id: str) -> dict[int, bytes]:
        """Write the batch atomically; return the outbox entries written, by partition.

        Raises StateConflictError if any account's version moved since `view` was read.
        """
        outbox = {p: encode_outputs(messages) for p, messages in result.outputs.items()}
        keys, args = self._commit_args(view, result, role, batch_id, outbox)
        reply = await self._evalsha(self._commit, keys, args)
        if reply != b"ok":
            raise StateConflictError(f"state changed under the batch: {reply!r}")
        return outbox

    def _commit_args(self, view: StateView, result: BatchResult, role: str, batch_id: str,
                     outbox: dict[int, bytes]) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = [len(result.dirty)]
        for name in sorted(result.dirty):
            keys.append(self.account_key(name))
            version = view.versions.get(name, 0)
            args += [str(version), pack_account(version + 1, view.accounts[name].encode())]
        args += [len(result.tx_updates), self._tx_ttl_s]
        # A record this batch creates and indexes by event time needs no TTL decision (the
        # index prunes it): 1 tells the script to skip reading it back.
        indexed = {tx_id for _, _, tx_id in result.tx_index}
        for tx_id, fields in result.tx_updates.items():
            keys.append(self.tx_key(tx_id))
            args += [1 if tx_id in indexed else 0, len(fields)]
            for field, value in fields.items():
                args += [field, value]
        # One ZADD per partition's index, not one per record: each call from Lua costs Redis a
        # command dispatch and the Lua around it.
        by_partition: dict[int, list[Any]] = {}
        for partition, event_time, tx_id in result.tx_index:
            by_partition.setdefault(partition, []).extend((event_time, tx_id))
        args.append(len(by_partition))
        for partition, pairs in by_partition.items():
            keys.append(self._tx_index_key(partition))
            args.append(len(pairs) // 2)
            args += pairs
        args += [len(result.partition_event_time), self._window_ms, self.tx_key("")]
        for partition, event_time in result.partition_event_time.items():
            keys += [self._event_time_key(partition), self._tx_index_key(partition)]
            args.append(event_time)
        args.append(len(result.holds))
        for change in result.holds:
            keys.append(self._holds_key(change.partition))
            member = f"{change.account}|{change.tx_id}"
            args += [member, "" if change.expires_at_ms is None else change.expires_at_ms]
        args += [len(result.fan_in), FAN_IN_WINDOW_MS, FAN_IN_CAP, PAYMENT_DAYS_KEPT]
        for payment in result.fan_in:
            keys.append(self._fan_in_key(payment.destination))
            args += [payment.payer, payment.time_ms]
        keys += [payment_days_key(self._namespace, p.destination) for p in result.fan_in]
        args.append(len(outbox))
        for partition, blob in outbox.items():
            keys.append(self.outbox_key(role, partition))
            args += [batch_id, blob]
        return keys, args

    async def outbox_done(self, role: str, batch_id: str, partitions: list[int]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for partition in partitions:
            pipe.hdel(self.outbox_key(role, partition), batch_id)
        with _unavailable_is_retriable():
            await pipe.execute()

    async def pending_outbox(self, roles: tuple[str, ...], partitions: list[int]
                             ) -> list[tuple[str, int, str, list[OutputMessage]]]:
        """(batch id, partition, role, outputs) of every entry left, in one round trip."""
        pairs = [(p, role) for p in partitions for role in roles]
        pipe = self._redis.pipeline(transaction=False)
        for partition, role in pairs:
            pipe.hgetall(self.outbox_key(role, partition))
        with _unavailable_is_retriable():
            replies = await pipe.execute()
        return [(batch_id.decode(), partition, role, decode_outputs(blob))
                for (partition, role), entries in zip(pairs, replies, strict=True)
                for batch_id, blob in entries.items()]

    async def expired_holds(self, partition: int, now_ms: int, limit: int) -> list[tuple[str, str]]:
        with _unavailable_is_retriable():
            members = await self._redis.zrangebyscore(self._holds_key(partition), 0, now_ms,
                                                      start=0, num=limit)
        return [(account, tx_id) for account, tx_id in (m.decode().split("|", 1) for m in members)]


def payment_days_key(namespace: str, destination: str) -> str:
    """A destination's payments per day (agents/fraud/labelrisk.py); authorize's commit counts."""
    return f"ps:{namespace}pd:{destination}"


def fan_in_key(namespace: str, destination: str) -> str:
    """The fan-in set of a destination (agents/fraud/fanin.py); authorize's commit writes it."""
    return f"ps:{namespace}fi:{destination}"


def label_risk_key(namespace: str, account: str) -> str:
    """The label-risk set of an account (agents/fraud/labelrisk.py); the labels sink writes it."""
    return f"ps:{namespace}lr:{account}"


def encode_outputs(messages: list[OutputMessage]) -> bytes:
    return msgpack.packb([[m.role, m.key, m.value, m.headers] for m in messages],
                         use_bin_type=True)


def decode_outputs(blob: bytes) -> list[OutputMessage]:
    return [OutputMessage(role, key, value, [(h[0], h[1]) for h in headers] if headers else None)
            for role, key, value, headers in msgpack.unpackb(blob, raw=False)]


#: Whole-keyspace and whole-stream reads (reconcile, its checks of the sinks) are not the hot
#: path. redis-py 8 gives up on a reply after 5 s by default, and a reader holding millions of
#: records can pause longer than that in one full garbage collection: a check must not fail on it.
BULK_READ_TIMEOUT_S = 300.0


def bulk_reader(url: str) -> Redis:
    """A client for reading everything (reconcile), patient with its own pauses."""
    return Redis.from_url(url, socket_timeout=BULK_READ_TIMEOUT_S)


async def delete_namespace(redis: Redis, namespace: str, chunk: int = 5000) -> int:
    """Delete every key paystream wrote under topic prefix `namespace`; return how many."""
    if not namespace:
        raise ConfigError("refusing to delete the keys of every namespace (empty topic prefix)")
    deleted = 0
    async for keys in scan_chunks(redis, f"ps:{namespace}*", chunk):
        deleted += await redis.unlink(*keys)  # one UNLINK per few thousand keys
    return deleted


async def outbox_pending(redis: Redis, namespace: str) -> int:
    return len([k async for k in redis.scan_iter(match=f"ps:{namespace}ob:*")])
