"""Account state in Redis: one MULTI read and one atomic Lua write per batch.

Why Redis (measured, see docs/design.md "Where account state lives"): workers stay stateless, a batch's
state, transaction records and outputs (the outbox) commit in one atomic step, tx_id dedupe is
global rather than per partition, and the API can read balances directly.

Keys, under `ps:<topic prefix>`:
  ac:<account>       "<version>|<AccountState, msgpack>" (streams/accounts.py)
  t:<tx_id>          hash h (body hash) s (status) c (credited) a (held: source) k (kept)
  txl:<partition>    list of "<event time>|<tx_id>" (or "-" for "|": never held, index_item)
                     in arrival order: a record is deleted once its partition's event-time mark
                     is more than the dedupe window past it (a retry becomes stale then), unless
                     the transaction is HELD; one that arrived after a later one waits behind
                     it (kept longer, never less)
  tx:<partition>     the same index as a sorted set by event time, before 2026-12-06: pruned
                     as it was until empty
  et:<partition>     highest event time applied in the transactions partition
  holds:<partition>  sorted set of "<account>|<tx_id>" by hold expiry (ms)
  ob:<role>:<partition>  outbox: hash batch id -> encoded outputs, until the worker drops them
                     after Kafka acknowledged them (with its next commit on the partition)
  fi:<account>       sorted set of payer -> last payment time: the fan-in set of a destination
                     (agents/fraud/fanin.py), at most FAN_IN_CAP members, expires when idle
  pd:<account>       hash day (of event time) -> payments to the account as destination, the last
                     PAYMENT_DAYS_KEPT days (the fraud rates' denominators)
  lr:<account>       sorted set of the fraud labels naming the account as destination or payer,
                     by the transaction's event time (agents/fraud/labelrisk.py; written by the
                     labels sink, read here); lr:device|<device id> the same for a device

On a Redis Cluster (ClusterStateStore) the keys of a partition carry its hash tag (ac:{p3}...,
t:{p3}..., et:{p3}, txl:{p3}, holds:{p3}, ob:<role>:{p3}), a batch is one partition's, and the
keys of other partitions go beside the scripts: the fraud features by pipelined reads and
writes, and the global tx_id dedupe by claims (id:<tx_id>, docs/design.md "Past one Redis").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, Literal, TypeVar, cast

import cramjam
from paystream_avro import pack_command
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents.batch import BatchResult, OutboxEntry, OutputMessage, StateView
from agents.fraud.fanin import FAN_IN_CAP, FAN_IN_WINDOW_MS, Payment, Seen
from agents.fraud.labelrisk import DAY_MS, PAYMENT_DAYS_KEPT, Entry, device_name
from agents.ports import StateConflictError
from streams.accounts import (
    HELD,
    TX_HASH,
    TX_STATUS,
    AccountState,
    account_key,
    holds_key,
    pack_account,
    scan_chunks,
    state_client,
    tag,
    tx_key,
    unpack_account,
)
from streams.errors import ConfigError, StateStoreError
from streams.msgpacking import pack, unpack
from streams.settings import StateCommit

T = TypeVar("T")
log = logging.getLogger(__name__)


@contextmanager
def unavailable_is_retriable() -> Iterator[None]:
    """Redis unreachable, restarting or slow becomes StateStoreError (retriable): the worker
    decides from `retriable` alone (agents/workers.py), without knowing redis-py's errors.
    Anything else Redis says (a script error, out of memory) stays what it is: not retriable."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError,  # OSError: TimeoutError too
            ClusterDownError, MasterDownError, TryAgainError) as exc:  # a cluster failing over
        raise StateStoreError(f"account-state store unavailable: {exc!r}") from exc


class _Keys:
    """The keys a batch names: untagged on one server; on a cluster, its partition's tag."""

    def __init__(self, namespace: str, partition: int | None = None) -> None:
        self.cluster = partition is not None
        self._ns = f"ps:{namespace}"
        self._namespace = namespace
        # the readers' layout (streams.accounts), as prefixes: a key is one concatenation
        self.account_prefix = account_key(namespace, "", partition)
        self.tx_prefix = tx_key(namespace, "", partition)

    def _part(self, partition: int) -> str:
        return tag(partition) if self.cluster else str(partition)

    def account(self, name: str) -> str:
        return self.account_prefix + name

    def tx(self, tx_id: str) -> str:
        return self.tx_prefix + tx_id

    def event_time(self, partition: int) -> str:
        return f"{self._ns}et:{self._part(partition)}"

    def tx_index(self, partition: int) -> str:
        return f"{self._ns}txl:{self._part(partition)}"

    def legacy_tx_index(self, partition: int) -> str:
        """The index as a sorted set, before 2026-12-06: drained by the pruning, then gone."""
        return f"{self._ns}tx:{self._part(partition)}"

    def holds(self, partition: int) -> str:
        return holds_key(self._namespace, partition, self.cluster)

    def outbox(self, role: str, partition: int) -> str:
        return f"{self._ns}ob:{role}:{self._part(partition)}"


#: native/redis/paystream.c: commit.lua's KEYS and ARGV, the same writes, compiled; and
#: fanin.lua's, the same counts.
MODULE_COMMIT = "PAYSTREAM.COMMIT"
MODULE_FAN_IN = "PAYSTREAM.FANIN"


class _ModuleGone(Exception):
    """The server lost paystream's module between two batches: the read is asked again."""


async def commit_kind(redis: Redis, wanted: StateCommit) -> Literal["module", "lua"]:
    """How batches will commit on this server: "lua" when asked, "module" when asked and loaded
    (ConfigError if not), and for "auto" whichever the server has."""
    if wanted == "lua":
        return "lua"
    # Read raw: redis-py's parser of COMMAND's reply fails on the nil of a command not there.
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        await connection.send_command("COMMAND", "INFO", MODULE_COMMIT, MODULE_FAN_IN)
        info = await connection.read_response()
    finally:
        await pool.release(connection)
    if info and all(info):  # an older build of the module, without both, is not used
        return "module"
    if wanted == "module":
        raise ConfigError(
            f"PAYSTREAM_STATE_COMMIT=module, but the account-state Redis has no {MODULE_COMMIT}: "
            f"load paystream's module into it (`make redis-module` builds native/redis/build/"
            f"paystream.so; `loadmodule` it in redis.conf), or set PAYSTREAM_STATE_COMMIT=auto "
            f"to commit by agents/commit.lua where it is missing")
    return "lua"


class RedisStateStore:
    def __init__(self, redis: Redis, namespace: str, tx_ttl_s: int, window_ms: int,
                 commit_with: StateCommit = "auto") -> None:
        self._redis = redis
        self._namespace = namespace
        self._flat = _Keys(namespace)
        self._tx_ttl_s = tx_ttl_s
        self._window_ms = window_ms
        self._commit_with = commit_with
        #: Whether batches commit by the module; None until the server is asked (first commit).
        self._module: bool | None = None if commit_with != "lua" else False
        scripts = resources.files("agents")
        self._read = redis.register_script(scripts.joinpath("read.lua").read_text())
        self._fan_in = redis.register_script(scripts.joinpath("fanin.lua").read_text())
        self._commit = redis.register_script(scripts.joinpath("commit.lua").read_text())

    async def _evalsha(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA with the command packed in compiled code rather than by redis-py's Python
        packer: a batch's read and commit carry thousands of arguments, and packing them was ~8%
        of a worker's CPU (py-spy, 2026-11-30); hiredis's packer, ~6% still (2026-12-04), now
        the reference for paystream_avro's (native/avro/src/resp.rs). A server that lost the
        script gets it loaded by the regular path."""
        packed = pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
        try:
            return await self._round_trip(packed)
        except NoScriptError:
            with unavailable_is_retriable():
                return await script(keys=keys, args=args)

    async def _round_trip(self, packed: bytes, replies: int = 1) -> Any:
        """Send `packed` (commands packed in compiled code) on a pooled connection, read its
        `replies` replies and return the last; a reply that is an error is raised. The
        connection goes back to the pool only if nothing was left unread on it."""
        pool = self._redis.connection_pool
        with unavailable_is_retriable():
            connection = await pool.get_connection()
            left = replies
            try:
                await connection.send_packed_command(packed)
                while left > 1:
                    await connection.read_response()
                    left -= 1
                return await connection.read_response()
            except BaseException as exc:
                if not (isinstance(exc, ResponseError) and left == 1):
                    await connection.disconnect()  # a reply may be half-read: never reuse it
                raise
            finally:
                await pool.release(connection)

    def _keys_of(self, partition: int) -> _Keys:
        """The keys of a partition's batches (one set for all on one server)."""
        return self._flat

    def account_key(self, account: str) -> str:
        return self._flat.account(account)

    def tx_key(self, tx_id: str) -> str:
        return self._flat.tx(tx_id)

    def label_risk_key(self, account: str) -> str:
        return label_risk_key(self._namespace, account)

    def outbox_key(self, role: str, partition: int) -> str:
        return self._keys_of(partition).outbox(role, partition)

    async def read(self, accounts: set[str], tx_ids: set[str], partitions: set[int],
                   payments: dict[str, Payment] | None = None,
                   outbox_roles: tuple[str, ...] = (),
                   own: Collection[OutboxEntry] = ()) -> StateView:
        """Everything a batch needs, as one snapshot: plain commands in one MULTI/EXEC round
        trip, and a second only when some of its transaction records or label-risk sets exist.

        `payments` (by tx_id) are the batch's payments whose fan-in and label risk (of payer,
        destination and device) the authorizer needs; `outbox_roles`, the roles whose outboxes
        of these partitions the same read looks into (`StateView.outbox_left`) for entries
        other than the reader's `own`.

        Plain commands rather than a script: Redis spent about as much on a read script's Lua (its
        KEYS and ARGV, every reply made a Lua value and back) as on the commands
        (loadtest/results/plain-probe-2026-12-05). The fan-in counts stay a script (agents/
        fanin.lua): a count per payment would be a reply per payment for the worker to read.
        """
        at = self._flat
        # In the sets' own order: replies come back in the order asked, and nothing depends on
        # which key Redis sees first. Sorting them cost a worker ~1 µs a transaction (py-spy of
        # a bench's worker-1, 2026-12-07: ~25 of its 951 busy samples).
        names, ids, parts = list(accounts), list(tx_ids), list(partitions)
        paying = list((payments or {}).items())
        paid = by_destination(paying)
        # the destinations first: only theirs have payments per day read beside
        named = list(paid) + list({p.payer for _, p in paying if p.payer not in paid}
                                  | {device_name(p.device) for _, p in paying if p.device})
        record_keys = [at.tx(t) for t in ids]
        risk_keys = [self.label_risk_key(a) for a in named]
        commands: list[tuple[Any, ...]] = [
            ("MGET", *[at.account(n) for n in names[i:i + MGET_CHUNK]])
            for i in range(0, len(names), MGET_CHUNK)]
        commands += [("EXISTS", *record_keys[i:i + EXISTS_CHUNK])
                     for i in range(0, len(record_keys), EXISTS_CHUNK)]
        commands += [("GET", at.event_time(p)) for p in parts]
        commands += [("EXISTS", *risk_keys[i:i + EXISTS_CHUNK])
                     for i in range(0, len(risk_keys), EXISTS_CHUNK)]
        if paid:
            fan_args: list[Any] = []
            for its in paid.values():
                fan_args.append(len(its))
                fan_args += [f"({p.since_ms}" for _, p in its]  # fanin.lua: the payers before
                fan_args += [p.payer for _, p in its]
            # paystream's module counts them without a command per payment (PAYSTREAM.FANIN)
            how = (MODULE_FAN_IN,) if await self._uses_module() else ("EVALSHA", self._fan_in.sha)
            commands.append((*how, len(paid), *[fan_in_key(self._namespace, d) for d in paid],
                             *fan_args))
        own_ids = _own_ids(at, own)
        outboxes = [at.outbox(role, p) for p in parts for role in outbox_roles]
        checked = [key for key in outboxes if key in own_ids]
        plain = [key for key in outboxes if key not in own_ids]
        commands += [("HKEYS", key) for key in checked]
        if plain:
            commands.append(("EXISTS", *plain))
        try:
            replies = iter(await self._transaction(commands))
        except _ModuleGone:
            return await self.read(accounts, tx_ids, partitions, payments, outbox_roles, own)

        view = StateView({}, {}, {}, {}, strict=True)
        values = [v for i in range(0, len(names), MGET_CHUNK) for v in next(replies)]
        _fill_accounts(view, names, values)
        found = [t for i in range(0, len(ids), EXISTS_CHUNK) if next(replies)
                 for t in ids[i:i + EXISTS_CHUNK]]
        for partition in parts:
            view.partition_event_time[partition] = int(next(replies) or 0)
        risky = [k for i in range(0, len(named), EXISTS_CHUNK) if next(replies)
                 for k in range(i, min(i + EXISTS_CHUNK, len(named)))]
        if paid:
            fan = iter(next(replies))
            for its in paid.values():
                counts = [next(fan) for _ in its]
                scores = next(fan) or [None] * len(its)
                for (tx_id, _), count, score in zip(its, counts, scores, strict=True):
                    view.fan_in[tx_id] = Seen(count, -1 if score is None else int(float(score)))
        if outboxes:
            held = [next(replies) for _ in checked]
            others = next(replies) if plain else 0
            view.outbox_left = others > 0 or any(
                batch_id.decode() not in own_ids[key]
                for key, batch_ids in zip(checked, held, strict=True) for batch_id in batch_ids)
        if found or risky:
            await self._read_existing(view, found, [named[k] for k in risky],
                                      {named[k] for k in risky if k < len(paid)})
        return view

    async def _read_existing(self, view: StateView, tx_ids: list[str], labelled: list[str],
                             destinations: set[str]) -> None:
        """The records and label-risk sets the read found (rarely any): a second round trip.
        It need not be the first's snapshot. A partition's records are written by its own
        batches, one at a time under the worker's lock, so not meanwhile (a credit from before
        origins marks its record's `c` from the destination's partition, which alone reads it);
        one another partition creates meanwhile for the same tx_id is what the commit's own
        check catches, as when it comes after the read; label-risk sets are written apart from
        any batch."""
        commands: list[tuple[Any, ...]] = [("HGETALL", self._flat.tx(t)) for t in tx_ids]
        for account in labelled:
            commands.append(("ZRANGE", self.label_risk_key(account), 0, -1, "WITHSCORES"))
            if account in destinations:
                commands.append(("HGETALL", payment_days_key(self._namespace, account)))
        replies = iter(await self._transaction(commands))
        for tx_id in tx_ids:
            fields = next(replies)
            if fields:
                view.tx_records[tx_id] = _record(fields)
        for account in labelled:
            flat = next(replies)
            _fill_label_risk(view, account, flat,
                             next(replies) if account in destinations else None)

    async def _transaction(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """`commands` in one MULTI/EXEC, packed in compiled code; EXEC's replies, any error among
        them raised. A server that lost the fan-in script (a restart, a failover) gets it loaded
        and the transaction sent again."""
        packed = pack_command(("MULTI",)) + b"".join(pack_command(c) for c in commands) \
            + pack_command(("EXEC",))
        for attempt in (1, 2):
            try:
                # MULTI's +OK, a +QUEUED for each command, then EXEC's replies
                replies = cast(list[Any], await self._round_trip(packed, len(commands) + 2))
            except NoScriptError:  # refused as it was queued
                replies = [NoScriptError()]
            except ResponseError as exc:  # an unknown command is refused as it is queued
                if self._module_gone(exc):
                    raise _ModuleGone() from exc
                raise
            errors = [reply for reply in replies if isinstance(reply, Exception)]
            if not errors:
                return replies
            if attempt == 1 and all(isinstance(e, NoScriptError) for e in errors):
                with unavailable_is_retriable():
                    await self._redis.script_load(self._fan_in.script)
                continue
            raise errors[0]
        raise AssertionError("unreachable")

    async def _read_script(self, at: _Keys, accounts: set[str], tx_ids: set[str],
                           partitions: set[int], outbox_roles: tuple[str, ...] = (),
                           own: Collection[OutboxEntry] = ()) -> StateView:
        """A cluster partition's accounts, records, event-time marks and outbox check, by one
        script on its node (agents/read.lua)."""
        names, ids, parts = sorted(accounts), sorted(tx_ids), sorted(partitions)
        outboxes = [at.outbox(role, p) for p in parts for role in outbox_roles]
        keys = ([at.account(n) for n in names] + [at.tx(t) for t in ids]
                + [at.event_time(p) for p in parts] + outboxes)
        args: list[Any] = [len(names), len(ids), len(parts), len(outboxes)]
        own_ids = _own_ids(at, own)
        for key in outboxes:
            ids_here = sorted(own_ids.get(key, ()))
            args += [len(ids_here), *ids_here]
        reply = await self._evalsha(self._read, keys, args)
        view = StateView({}, {}, {}, {}, strict=True)
        _fill_accounts(view, names, reply)
        offset = len(names)
        for tx_id, fields in zip(ids, reply[offset:offset + len(ids)], strict=True):
            if fields:
                view.tx_records[tx_id] = _record(fields)
        offset += len(ids)
        for partition, value in zip(parts, reply[offset:offset + len(parts)], strict=True):
            view.partition_event_time[partition] = int(value)
        if outboxes:
            view.outbox_left = reply[-1] > 0
        return view

    async def commit(self, view: StateView, result: BatchResult, role: str, batch_id: str,
                     sent: Collection[OutboxEntry] = ()) -> dict[int, bytes]:
        """Write the batch atomically, dropping the `sent` outbox entries in the same step;
        return the outbox entries written, by partition.

        Raises StateConflictError if any account's version moved since `view` was read.
        """
        outbox = {p: encode_outputs(messages) for p, messages in result.outputs.items()}
        keys, args = self._commit_args(self._flat, view, result, result.fan_in, role, batch_id,
                                       outbox, sent)
        await self._commit_script(keys, args)
        return outbox

    async def _uses_module(self) -> bool:
        """Whether batches go by paystream's Redis module (asked of the server once)."""
        if self._module is None:
            with unavailable_is_retriable():
                self._module = await commit_kind(self._redis, self._commit_with) == "module"
        return self._module

    def _module_gone(self, error: BaseException) -> bool:
        """True, and the scripts from now on, if `error` says the server lost the module (a
        restart without it): an unknown command did nothing, and the scripts do the same."""
        if not (self._module and self._commit_with == "auto"
                and "unknown command" in str(error).lower()):
            return False
        log.warning("the account-state Redis no longer has paystream's module: batches go by "
                    "agents/commit.lua and fanin.lua from now on")
        self._module = False
        return True

    async def _commit_script(self, keys: list[str], args: list[Any]) -> None:
        if await self._uses_module():
            try:
                reply = await self._round_trip(pack_command((MODULE_COMMIT, len(keys), *keys,
                                                             *args)))
            except ResponseError as exc:
                if not self._module_gone(exc):
                    raise
                reply = await self._evalsha(self._commit, keys, args)
        else:
            reply = await self._evalsha(self._commit, keys, args)
        if reply != b"ok":
            raise StateConflictError(f"state changed under the batch: {reply!r}")

    def _commit_args(self, at: _Keys, view: StateView, result: BatchResult, fan_in: list[Payment],
                     role: str, batch_id: str, outbox: dict[int, bytes],
                     sent: Collection[OutboxEntry]) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = [len(result.dirty)]
        for name in result.dirty:  # any order: the script checks them all before it writes
            keys.append(at.account(name))
            version = view.versions.get(name, 0)
            args += [str(version), pack_account(version + 1, view.accounts[name].encode())]
        # A record this batch creates and indexes by event time needs no TTL decision (the
        # index prunes it). Those with only a hash and a status (nearly all) go first, as two
        # strings each; the others as 1 (created and indexed: the script skips reading it back)
        # or 0, their field count and their fields.
        indexed = {tx_id for _, _, tx_id in result.tx_index}
        other: list[tuple[str, dict[str, str]]] = []
        new: list[str] = []
        for tx_id, fields in result.tx_updates.items():
            if len(fields) == 2 and tx_id in indexed and TX_STATUS in fields and TX_HASH in fields:
                keys.append(at.tx(tx_id))
                new += [fields[TX_HASH], fields[TX_STATUS]]
            else:
                other.append((tx_id, fields))
        args.append(len(new) // 2)
        args += new
        args += [len(other), self._tx_ttl_s]
        for tx_id, fields in other:
            keys.append(at.tx(tx_id))
            args += [1 if tx_id in indexed else 0, len(fields)]
            for field, value in fields.items():
                args += [field, value]
        # One RPUSH per partition's index, not one per record: each call from Lua costs Redis a
        # command dispatch and the Lua around it.
        by_partition: dict[int, list[str]] = {}
        for partition, event_time, tx_id in result.tx_index:
            held = result.tx_updates.get(tx_id, {}).get(TX_STATUS) == HELD
            by_partition.setdefault(partition, []).append(index_item(event_time, tx_id, held))
        args.append(len(by_partition))
        for partition, items in by_partition.items():
            keys.append(at.tx_index(partition))
            args.append(len(items))
            args += items
        args += [len(result.partition_event_time), self._window_ms, at.tx_prefix]
        for partition, event_time in result.partition_event_time.items():
            keys += [at.event_time(partition), at.legacy_tx_index(partition),
                     at.tx_index(partition)]
            adds = len(by_partition.get(partition, ()))
            args += [event_time, PRUNE_MARGIN + adds, adds + PRUNE_FIRST_SLACK]
        args.append(len(result.holds))
        for change in result.holds:
            keys.append(at.holds(change.partition))
            member = f"{change.account}|{change.tx_id}"
            args += [member, "" if change.expires_at_ms is None else change.expires_at_ms]
        paid = by_destination((None, payment) for payment in fan_in)
        args += [len(paid), FAN_IN_WINDOW_MS, FAN_IN_CAP, PAYMENT_DAYS_KEPT]
        for destination, its in paid.items():
            keys += [fan_in_key(self._namespace, destination),
                     payment_days_key(self._namespace, destination)]
            args.append(len(its))
            days: dict[int, int] = {}
            for _, payment in its:
                args += [payment.time_ms, payment.payer]
                day = payment.time_ms // DAY_MS
                days[day] = days.get(day, 0) + 1
            args.append(len(days))
            for day, count in days.items():
                args += [day, count]
        args.append(len(outbox))
        for partition, blob in outbox.items():
            keys.append(at.outbox(role, partition))
            args += [batch_id, blob]
        args.append(len(sent))
        for entry in sent:
            keys.append(at.outbox(entry.role, entry.partition))
            args.append(entry.batch_id)
        return keys, args

    async def outbox_done(self, entries: Collection[OutboxEntry]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for entry in entries:
            pipe.hdel(self.outbox_key(entry.role, entry.partition), entry.batch_id)
        with unavailable_is_retriable():
            await pipe.execute()

    async def pending_outbox(self, roles: tuple[str, ...], partitions: list[int]
                             ) -> list[tuple[str, int, str, list[OutputMessage]]]:
        """(batch id, partition, role, outputs) of every entry left, in one round trip."""
        pairs = [(p, role) for p in partitions for role in roles]
        pipe = self._redis.pipeline(transaction=False)
        for partition, role in pairs:
            pipe.hgetall(self.outbox_key(role, partition))
        with unavailable_is_retriable():
            replies = await pipe.execute()
        return [(batch_id.decode(), partition, role, decode_outputs(blob))
                for (partition, role), entries in zip(pairs, replies, strict=True)
                for batch_id, blob in entries.items()]

    async def expired_holds(self, partition: int, now_ms: int, limit: int) -> list[tuple[str, str]]:
        with unavailable_is_retriable():
            members = await self._redis.zrangebyscore(self._keys_of(partition).holds(partition), 0, now_ms,
                                                      start=0, num=limit)
        return [(account, tx_id) for account, tx_id in (m.decode().split("|", 1) for m in members)]


#: A cluster's answer that the slot is elsewhere or moving: the client's own path follows it.
_REDIRECTED = (MovedError, AskError, TryAgainError)


async def _per_node(cluster: RedisCluster, commands: list[tuple[Any, ...]],
                    attempts: int = 3) -> list[Any]:
    """Commands on keys of many slots (the key is each command's second word, an EVALSHA's
    first key) as one pipeline per node, packed in compiled code and sent to the nodes at once;
    raw replies, in order.

    redis-py's own cluster pipeline packs and routes in Python: with a claim per transaction
    and the fraud features' ~5 commands per payment it was a third of a cluster worker's CPU
    (py-spy, 2026-12-01). Commands whose slot moved (a failover, resharding) are sent again
    after the client relearns the layout; still moving after `attempts`, the batch waits and
    is retried (StateStoreError). An error reply other than those is raised.
    """
    replies: list[Any] = [None] * len(commands)
    pending = list(range(len(commands)))
    with unavailable_is_retriable():
        await cluster.initialize()  # learns the slots on first use; at once after that
        for _ in range(attempts):
            pending = await _send_per_node(cluster, commands, pending, replies)
            if not pending:
                break
            await cluster.nodes_manager.initialize()
        else:
            raise StateStoreError(f"{len(pending)} commands still redirected after {attempts} "
                                  f"attempts: is the cluster moving slots?")
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


async def _send_per_node(cluster: RedisCluster, commands: list[tuple[Any, ...]],
                         indexes: list[int], replies: list[Any]) -> list[int]:
    """Send `indexes` of `commands`, fill in their replies; return those redirected."""
    by_node: dict[str, tuple[Any, list[int]]] = {}
    for i in indexes:
        command = commands[i]
        # EVALSHA sha numkeys key...: routed by its first key (its keys share one slot)
        key = command[3] if command[0] == "EVALSHA" and command[2] else command[1]
        node = cluster.nodes_manager.get_node_from_slot(
            key_slot(key.encode() if isinstance(key, str) else key))
        by_node.setdefault(node.name, (node, []))[1].append(i)

    async def on(node: Any, mine: list[int]) -> list[int]:
        redirected = []
        connection = node.acquire_connection()
        try:
            await connection.send_packed_command(
                b"".join(pack_command(commands[i]) for i in mine), False)
            for i in mine:  # every reply is read, errors too, so the connection stays usable
                try:
                    replies[i] = await connection.read_response()
                except _REDIRECTED:
                    redirected.append(i)
                except ResponseError as exc:
                    replies[i] = exc
            return redirected
        except BaseException:
            await connection.disconnect()  # a reply may be half-read: never reuse it
            raise
        finally:
            node.release(connection)

    done = await asyncio.gather(*(on(node, mine) for node, mine in by_node.values()))
    return sorted(i for redirected in done for i in redirected)


class ClusterStateStore(RedisStateStore):
    """The account state on a Redis Cluster: each batch is one partition's (the workers split
    their batches so, agents/workers.py), read and committed by the same two scripts on the node
    that holds the partition's slot, atomic as on one server. What lives under other slots goes
    beside the scripts:

    - the tx_id claims: the same tx_id reaching two partitions (two source accounts) shares no
      key between their batches, so before a commit each new record claims its tx_id
      (`SET id:<tx_id> <partition>|<body hash> NX GET`); another partition's claim is a conflict
      (the batch is recomputed, and the read finds the claim: the transaction is dead-lettered,
      as on one server). A claim of its own partition is a replay after a crash between the
      claim and the commit, and goes through.
    - the fraud features of destinations, payers and devices (fi:, pd:, lr:): read by one
      pipelined round trip beside the read script, written after the commit. A crash between
      the commit and that write leaves the batch's payments out of the features (the replay
      finds them decided); a write is idempotent apart from the per-day count.
    """

    def __init__(self, redis: RedisCluster, namespace: str, tx_ttl_s: int, window_ms: int,
                 commit_with: StateCommit = "lua") -> None:
        # Its batches commit by the script on the partition's node: the module's command is not
        # routed per node here (PAYSTREAM_STATE_COMMIT is for one server).
        super().__init__(redis, namespace, tx_ttl_s, window_ms,  # type: ignore[arg-type]
                         commit_with="lua")
        self._cluster = redis
        # A claim outlives the dedupe window by wall clock, as the records it stands for do.
        self._claim_ttl_ms = max(window_ms, tx_ttl_s * 1000)

    def _keys_of(self, partition: int) -> _Keys:
        return _Keys(self._namespace, partition)

    async def _evalsha(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """As on one server, packed in compiled code, on the node of the batch's slot (its keys
        share the partition's tag: redis-py would hash every key to check)."""
        try:
            (reply,) = await _per_node(self._cluster, [("EVALSHA", script.sha, len(keys), *keys,
                                                         *args)])
            return reply
        except NoScriptError:
            with unavailable_is_retriable():
                return await script(keys=keys, args=args)

    @staticmethod
    def _only(partitions: set[int]) -> int:
        if len(partitions) != 1:
            raise ValueError(f"a cluster batch is one partition's, got {sorted(partitions)}")
        return next(iter(partitions))

    def claim_key(self, tx_id: str) -> str:
        return f"ps:{self._namespace}id:{tx_id}"

    async def read(self, accounts: set[str], tx_ids: set[str], partitions: set[int],
                   payments: dict[str, Payment] | None = None,
                   outbox_roles: tuple[str, ...] = (),
                   own: Collection[OutboxEntry] = ()) -> StateView:
        partition = self._only(partitions)
        view = await self._read_script(self._keys_of(partition), accounts, tx_ids, partitions,
                                       outbox_roles, own)
        view.partition = partition
        paying = list((payments or {}).items())
        named = sorted({a for _, p in paying for a in (p.payer, p.destination)}
                       | {device_name(p.device) for _, p in paying if p.device})
        unknown = sorted(t for t in tx_ids if t not in view.tx_records)
        commands: list[tuple[Any, ...]] = []
        for _, payment in paying:
            key = fan_in_key(self._namespace, payment.destination)
            commands += [("ZCOUNT", key, payment.since_ms, "+inf"),
                         ("ZSCORE", key, payment.payer)]
        for account in named:
            commands += [("ZRANGE", label_risk_key(self._namespace, account), 0, -1, "WITHSCORES"),
                         ("HGETALL", payment_days_key(self._namespace, account))]
        commands += [("GET", self.claim_key(tx_id)) for tx_id in unknown]
        replies = await _per_node(self._cluster, commands) if commands else []
        at = 0
        for tx_id, _ in paying:
            count, score = replies[at], replies[at + 1]
            view.fan_in[tx_id] = Seen(int(count), -1 if score is None else int(float(score)))
            at += 2
        for account in named:
            _fill_label_risk(view, account, replies[at], replies[at + 1])
            at += 2
        for tx_id, claimed in zip(unknown, replies[at:], strict=True):
            if claimed:
                owner, _, body_hash = claimed.decode().partition("|")
                if int(owner) != partition:  # another partition's transaction: a conflict
                    view.tx_records[tx_id] = {TX_HASH: body_hash}
        return view

    async def commit(self, view: StateView, result: BatchResult, role: str, batch_id: str,
                     sent: Collection[OutboxEntry] = ()) -> dict[int, bytes]:
        if view.partition is None:
            raise ValueError("a cluster batch commits the view its own read returned")
        if any(entry.partition != view.partition for entry in sent):
            raise ValueError("a cluster batch drops only its own partition's outbox entries")
        await self._claim(view.partition, result)
        outbox = {p: encode_outputs(messages) for p, messages in result.outputs.items()}
        keys, args = self._commit_args(self._keys_of(view.partition), view, result, [], role,
                                       batch_id, outbox, sent)
        await self._commit_script(keys, args)
        if result.fan_in:
            await self._write_features(result.fan_in)
        return outbox

    async def _claim(self, partition: int, result: BatchResult) -> None:
        created = [(tx_id, f"{partition}|{fields[TX_HASH]}")
                   for tx_id, fields in result.tx_updates.items() if TX_HASH in fields]
        if not created:
            return
        replies = await _per_node(self._cluster, [
            ("SET", self.claim_key(tx_id), claim, "NX", "GET", "PX", self._claim_ttl_ms)
            for tx_id, claim in created])
        for (tx_id, claim), held in zip(created, replies, strict=True):
            if held is not None and held.decode() != claim:
                raise StateConflictError(f"tx_id {tx_id} claimed by another transaction: "
                                         f"{held.decode()!r}, not {claim!r}")

    async def _write_features(self, payments: list[Payment]) -> None:
        """What commit.lua does to the fan-in sets and payments per day on one server."""
        commands: list[tuple[Any, ...]] = []
        paid: dict[str, None] = {}  # each fan-in set once, in the order first paid
        for payment in payments:
            key = fan_in_key(self._namespace, payment.destination)
            paid[key] = None
            commands.append(("ZADD", key, "GT", payment.time_ms, payment.payer))
            days, day = payment_days_key(self._namespace, payment.destination), payment.time_ms // DAY_MS
            commands += [("HINCRBY", days, day, 1), ("HDEL", days, day - PAYMENT_DAYS_KEPT),
                         ("PEXPIRE", days, PAYMENT_DAYS_KEPT * DAY_MS)]
        for key in paid:
            commands += [("ZREMRANGEBYRANK", key, 0, -(FAN_IN_CAP + 1)),
                         ("PEXPIRE", key, FAN_IN_WINDOW_MS)]
        await _per_node(self._cluster, commands)


#: Records a commit may prune from a partition's index beyond as many as it adds there. A fixed
#: cap of 1,000 per batch and partition fell behind whenever a batch brought more than that to
#: one partition (a backlog is fetched a partition at a time, up to 4,000 records a batch): one
#: worker draining 600k transactions of 50k accounts ended holding 447k records where the
#: window holds 157k (loadtest/results/prune-2026-12-06). With the margin, records already past
#: the window (a pause, a shortened window) drain that many a batch on top of what it adds.
PRUNE_MARGIN = 1000

#: Items the pruning reads first beyond as many as the batch adds to the partition (commit.lua
#: reads more, doubling, only while all it read were due): in a steady stream about as many fall
#: due as arrive, and a few more cover the jitter without a second call.
PRUNE_FIRST_SLACK = 16


def index_item(event_time: int, tx_id: str, held: bool) -> str:
    """A record's entry in its partition's index (commit.lua): the event time in a fixed width,
    so the script reads it back from the first 15 characters, then "|" or "-", then the tx_id.

    "-": the record was not HELD when it was indexed, so it never will be (only a decision holds;
    a hold's ending writes another status), and the pruning deletes it unread. "|": it was, or
    the item is from before 2026-12-06, when every item had "|": the pruning reads its status
    first and keeps it, marked, while it is HELD. The read was one call from Lua per record
    pruned (~1 per transaction), where nearly every record goes."""
    return f"{event_time:015d}{'|' if held else '-'}{tx_id}"


#: Keys per MGET and per EXISTS of a single-server read: an MGET's values come back in one reply;
#: nearly every record and label-risk set a batch asks about does not exist, and one EXISTS
#: per chunk says so (only a chunk with some is read key by key).
MGET_CHUNK = 1000
EXISTS_CHUNK = 64


def _own_ids(at: _Keys, own: Collection[OutboxEntry]) -> dict[str, set[str]]:
    """The reader's own outbox entries' batch ids, by outbox key."""
    out: dict[str, set[str]] = {}
    for entry in own:
        out.setdefault(at.outbox(entry.role, entry.partition), set()).add(entry.batch_id)
    return out


def _record(fields: list[bytes]) -> dict[str, str]:
    """A transaction record from HGETALL's flat reply."""
    return {fields[j].decode(): fields[j + 1].decode() for j in range(0, len(fields), 2)}


def _fill_label_risk(view: StateView, account: str, flat: list[Any],
                     days: list[Any] | None) -> None:
    """An account's label-risk entries (ZRANGE WITHSCORES, flat) and, beside them, its payments
    per day (HGETALL, flat): the days matter only where there are entries (a rate is 0 else)."""
    if not flat:
        return
    view.label_risk[account] = [Entry.parse(flat[j].decode(), float(flat[j + 1]))
                                for j in range(0, len(flat), 2)]
    if days:
        view.payment_days[account] = {int(days[j]): int(days[j + 1])
                                      for j in range(0, len(days), 2)}


def _fill_accounts(view: StateView, names: list[str], values: Iterable[Any]) -> None:
    for name, value in zip(names, values, strict=False):
        version, blob = unpack_account(value)
        view.versions[name] = version
        if blob:
            view.accounts[name] = AccountState.decode(blob)


def by_destination(paying: Iterable[tuple[T, Payment]]) -> dict[str, list[tuple[T, Payment]]]:
    """A batch's payments by destination, each in batch order: the scripts read and write a
    destination's fan-in set and payments per day once per batch, not once per payment (the
    bench's traffic pays a destination ~2 times in a batch)."""
    out: dict[str, list[tuple[T, Payment]]] = {}
    for item in paying:
        out.setdefault(item[1].destination, []).append(item)
    return out


def payment_days_key(namespace: str, destination: str) -> str:
    """A destination's payments per day (agents/fraud/labelrisk.py); authorize's commit counts."""
    return f"ps:{namespace}pd:{destination}"


def fan_in_key(namespace: str, destination: str) -> str:
    """The fan-in set of a destination (agents/fraud/fanin.py); authorize's commit writes it."""
    return f"ps:{namespace}fi:{destination}"


def label_risk_key(namespace: str, account: str) -> str:
    """The label-risk set of an account (agents/fraud/labelrisk.py); the labels sink writes it."""
    return f"ps:{namespace}lr:{account}"


#: zstd's frame magic. An outbox entry starts with it; one an earlier version wrote (plain
#: MessagePack, an array: 0x9_ or 0xdc/0xdd) cannot, and is read as it is.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: zstd level 1: a batch's outputs were ~420 of the ~1,000 bytes per transaction the account
#: state's Redis appended to its fsynced AOF, the largest part; level 1 keeps 22% of them for
#: 0.9 µs per transaction to compress (lz4: 31% for 0.6; level 3: 20% for 1.3; 2026-12-03).
OUTBOX_ZSTD_LEVEL = 1


def encode_outputs(messages: list[OutputMessage]) -> bytes:
    """A batch's outputs as one outbox entry: MessagePack, zstd-compressed (OUTBOX_ZSTD_LEVEL)."""
    packed = pack(messages)  # each an array: [role, key, value, headers]
    return bytes(cramjam.zstd.compress(packed, OUTBOX_ZSTD_LEVEL))


def decode_outputs(blob: bytes) -> list[OutputMessage]:
    if blob.startswith(ZSTD_MAGIC):
        blob = bytes(cramjam.zstd.decompress(blob))
    return [OutputMessage(role, key, value, [(h[0], h[1]) for h in headers] if headers else None)
            for role, key, value, headers in unpack(blob)]


#: Whole-keyspace and whole-stream reads (reconcile, its checks of the sinks) are not the hot
#: path. redis-py 8 gives up on a reply after 5 s by default, and a reader holding millions of
#: records can pause longer than that in one full garbage collection: a check must not fail on it.
BULK_READ_TIMEOUT_S = 300.0


def bulk_reader(url: str, cluster: bool = False) -> Any:
    """A client for reading everything (reconcile), patient with its own pauses."""
    return state_client(url, cluster, socket_timeout=BULK_READ_TIMEOUT_S)


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
