"""Account state as the workers keep it in Redis: the record, the transaction records, the keys.

The workers (agents/store.py) write it; reconcile, `paystream review` and the analysts' API read
it through the functions here, so that the layout has one definition and readers never import the
agents. One state record per account: balances, holds, posting sequence, applied-input watermarks.
Owned by exactly one partition (the account's partition number on every keyed topic), read and
written once per batch. Serialised with msgpack as a short list, so the record of a typical
account is ~300 bytes, most of it the fraud profile. Bounded: holds are capped by the rules
(`max_holds_per_account`); everything else is a fixed set of fields per currency held.

Keys, under `ps:<topic prefix>` (agents/store.py lists the workers' other keys):
  ac:<account>  string "<version>|<AccountState, msgpack>": one value, so a batch reads and
                writes all its accounts with one MGET and one MSET (the layout before 2026-12-01,
                a hash per account under a:, cost Redis three calls per account per batch;
                `paystream state-migrate` converts it)
  layout        "2" once this namespace is in the packed layout (workers check it at start)
  t:<tx_id>     hash h (body hash) s (status) c (credited) a (held: source) k (kept)
                p (a payout's details) x (a payout's late success recorded)
  holds:<p>     sorted set "<account>|<tx_id>" by hold expiry (ms), per transactions partition

On a Redis Cluster (REDIS_CLUSTER=true) every key a partition's batches write carries the
partition's hash tag right after its kind: ac:{p3}<account>, t:{p3}<tx_id>, holds:{p3}, so one
batch's script runs on one node (docs/design.md "Past one Redis"). A reader finds an account's
partition as the producers do (murmur2) or, for a system account's shard, from its name.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from redis.asyncio import Redis, RedisCluster

from streams.errors import PaystreamError
from streams.msgpacking import unpack
from streams.partitioning import partition_for

#: Redis hash fields of a transaction record (t:<tx_id>).
TX_HASH, TX_STATUS, TX_CREDITED = "h", "s", "c"
#: Source account of a held transaction, so a reviewer's verdict can be keyed without asking.
TX_ACCOUNT = "a"
#: A transaction record's status: its authorization, then how a hold ended.
APPROVED, DECLINED, HELD = "APPROVED", "DECLINED", "HELD"
REVIEW_APPROVED, REVIEW_DECLINED, EXPIRED = "REVIEW_APPROVED", "REVIEW_DECLINED", "EXPIRED"
#: How a payout's hold ended on its receive partner's word (docs/send-money.md).
PAYOUT_SUCCEEDED, PAYOUT_FAILED = "PAYOUT_SUCCEEDED", "PAYOUT_FAILED"
#: A held PAYOUT's details (JSON of its payout record), for settling it when the partner answers;
#: and the mark of a SUCCESS that came after it expired (recorded once).
TX_PAYOUT, TX_LATE_SUCCESS = "p", "x"


def payout_details(record: dict[str, str]) -> dict[str, Any] | None:
    """A held payout's details from its transaction record (None: the record is no payout's)."""
    raw = record.get(TX_PAYOUT)
    return json.loads(raw) if raw else None


def tag(partition: int | None) -> str:
    """The hash tag of a partition's keys on a Redis Cluster; "" (no tag) on one server."""
    return "" if partition is None else f"{{p{partition}}}"


_TAG = re.compile(r"^\{p\d+\}")
#: A system account's shard names its partition (agents/postings.py system_shard).
_SHARD = re.compile(r":p(\d{2,})$")


def untagged(name: str) -> str:
    """An account or tx_id as its key names it, without a cluster tag."""
    return _TAG.sub("", name, count=1)


#: The account-state client: one server, or a Redis Cluster (REDIS_CLUSTER).
StateClient = Redis | RedisCluster


def is_cluster(redis: StateClient) -> bool:
    return isinstance(redis, RedisCluster)


def state_client(url: str, cluster: bool, **options: Any) -> StateClient:
    """A client of the account state: REDIS_URL, as one server or as a node of a Redis Cluster
    (REDIS_CLUSTER), from which the client learns the others."""
    if cluster:
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, **options)


def account_partitions(account: str, partitions: int) -> list[int]:
    """Where a reader looks for an account on a Redis Cluster: its key's partition (murmur2,
    as every producer places it) and, for a name ending like a system shard's (":p07"), that
    partition too; the workers write it under the partition that owns it, one of these."""
    found = [partition_for(account, partitions)]
    shard = _SHARD.search(account)
    if shard and int(shard.group(1)) < partitions and int(shard.group(1)) != found[0]:
        found.append(int(shard.group(1)))
    return found


def account_key(namespace: str, account: str, partition: int | None = None) -> str:
    return f"ps:{namespace}ac:{tag(partition)}{account}"


def legacy_account_key(namespace: str, account: str) -> str:
    """Where the layout before 2026-12-01 kept an account (a hash: v, s)."""
    return f"ps:{namespace}a:{account}"


def layout_key(namespace: str) -> str:
    return f"ps:{namespace}layout"


#: The layout written under `layout_key` (1, unmarked: account hashes under a:).
LAYOUT = b"2"


def pack_account(version: int, state: bytes) -> bytes:
    """The stored value of an account: its version, then its state (AccountState.encode)."""
    return b"%d|%b" % (version, state)


def unpack_account(value: bytes | None) -> tuple[int, bytes]:
    """(version, state) of a stored account value; (0, b"") for an account never written."""
    if not value:
        return 0, b""
    version, _, state = value.partition(b"|")
    return int(version), state


def tx_key(namespace: str, tx_id: str, partition: int | None = None) -> str:
    return f"ps:{namespace}t:{tag(partition)}{tx_id}"


def holds_key(namespace: str, partition: int, cluster: bool = False) -> str:
    """The hold-expiry index of a partition: "<account>|<tx_id>" scored by expiry (ms)."""
    return f"ps:{namespace}holds:{tag(partition) if cluster else partition}"


#: Layout version; bump when the list below changes, and read the old ones. Format 1 kept
#: velocity counters where format 2 keeps the fraud profile; format 3 adds credit marks.
STATE_FORMAT = 3


class StateError(PaystreamError):
    """A stored state record cannot be read."""


class Hold(msgspec.Struct, array_like=True, gc=False):
    """Money reserved by a transaction under REVIEW: not posted, not available. Stored as an
    array of its fields (gc=False: strings and ints only, never a cycle)."""

    tx_id: str
    destination: str
    amount: int
    currency: str
    event_time: int
    expires_at_ms: int
    tx_type: str


if TYPE_CHECKING:  # what the code sees: __post_init__ makes it so
    _Holds = dict[str, Hold]
else:  # what msgspec reads: the wire's list too
    _Holds = dict[str, Hold] | list[Hold]


class AccountState(msgspec.Struct, array_like=True, tag=STATE_FORMAT):
    """An account's state, stored as the array [STATE_FORMAT, balances, holds (a list of
    Holds), seq, applied, profile, credit_marks]: the format number is the struct's tag, so
    msgspec reads and writes the whole record in compiled code. The Python that unpacked a
    generic list into a dataclass took ~0.77 µs an account where this takes ~0.39, and a
    worker decodes and encodes ~2 accounts a transaction (docs/benchmarks.md, 2026-12-07 late
    morning). The bytes are the ones `pack([...])` wrote before, to the byte
    (tests/unit/test_msgpacking.py)."""

    balances: dict[str, int] = msgspec.field(default_factory=dict)
    #: By tx_id in memory; a list of Holds on the wire (decoded as one, turned into the dict by
    #: __post_init__, and written back as one by `encode`).
    holds: _Holds = msgspec.field(default_factory=dict)
    #: account_seq of the last posting on this account (postings are numbered from 1).
    seq: int = 0
    #: Highest input offset applied, per input topic role: an event at or below is a replay.
    applied: dict[str, int] = msgspec.field(default_factory=dict)
    #: Fraud profile of the account as a payer (agents.fraud.features); opaque here.
    profile: bytes = b""
    #: Highest origin offset of a credit applied to this account, per origin (t<p> / r<p>):
    #: at most two entries per partition, so bounded (agents.settler).
    credit_marks: dict[str, int] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        holds = self.holds
        if holds.__class__ is list:
            self.holds = {h.tx_id: h for h in holds} if holds else {}

    def balance(self, currency: str) -> int:
        return self.balances.get(currency, 0)

    def held(self, currency: str) -> int:
        if not self.holds:  # nearly every account, nearly always
            return 0
        return sum(h.amount for h in self.holds.values() if h.currency == currency)

    def available(self, currency: str) -> int:
        return self.balance(currency) - self.held(currency)

    def is_replay(self, role: str, offset: int) -> bool:
        return offset <= self.applied.get(role, -1)

    def mark_applied(self, role: str, offset: int) -> None:
        if offset > self.applied.get(role, -1):
            self.applied[role] = offset

    def encode(self) -> bytes:
        holds = self.holds
        self.holds = list(holds.values())  # type: ignore[assignment]  # the wire's, this call only
        try:
            return _encode_state(self)
        finally:
            self.holds = holds

    @classmethod
    def decode(cls, data: bytes) -> AccountState:
        try:
            return _decode_state(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return _decode_older(data)  # another format, or not a state: said there


_encode_state = msgspec.msgpack.Encoder().encode
_decode_state = msgspec.msgpack.Decoder(AccountState).decode


def _decode_older(data: bytes) -> AccountState:
    """A record of an earlier format (1: velocity floats where the profile is, 2: no credit
    marks), read field by field; anything else is a StateError that says what it is."""
    try:
        fmt, balances, holds, seq, applied, profile, *rest = unpack(data)
    except (ValueError, TypeError) as exc:
        raise StateError(f"unreadable account state ({len(data)} bytes): {exc}") from exc
    if not 1 <= fmt <= STATE_FORMAT:
        raise StateError(f"account state format {fmt}, this build reads 1 to {STATE_FORMAT}")
    if fmt == 1:
        profile = b""  # velocity floats of format 1: the profile starts afresh
    marks = rest[0] if fmt >= 3 else {}
    try:
        return AccountState(balances, {h[0]: Hold(*h) for h in holds}, seq, applied, profile,
                            marks)
    except (TypeError, ValueError) as exc:
        raise StateError(f"unreadable account state (format {fmt}): {exc}") from exc


async def mget_any(redis: StateClient, keys: Sequence[str | bytes]) -> list[bytes | None]:
    """MGET of keys that may lie in several slots of a cluster (one MGET per slot there)."""
    if isinstance(redis, RedisCluster):
        return await redis.mget_nonatomic(keys)
    return await redis.mget(keys)


async def read_accounts(redis: StateClient, namespace: str, accounts: list[str],
                        partitions: int = 1) -> dict[str, AccountState]:
    """The stored state of each account that has one (an account never seen has none).
    `partitions` (the topics'): where to look on a Redis Cluster."""
    if not accounts:
        return {}
    cluster = is_cluster(redis)
    wanted = [(name, account_key(namespace, name, p)) for name in accounts
              for p in (account_partitions(name, partitions) if cluster else [None])]
    values = await mget_any(redis, [key for _, key in wanted])
    found: dict[str, AccountState] = {}
    for (name, _), value in zip(wanted, values, strict=True):
        if value and name not in found:
            found[name] = AccountState.decode(unpack_account(value)[1])
    return found


async def scan_chunks(redis: StateClient, match: str, chunk: int) -> AsyncIterator[list[bytes]]:
    """The keys matching `match`, `chunk` at a time: one command per chunk, not per key."""
    keys: list[bytes] = []
    async for key in redis.scan_iter(match=match, count=chunk):
        keys.append(key)
        if len(keys) >= chunk:
            yield keys
            keys = []
    if keys:
        yield keys


async def scan_accounts(redis: StateClient, namespace: str, chunk: int = 1000) -> dict[str, AccountState]:
    """Every account state under `namespace` (for reconcile and the API; not for the hot path)."""
    prefix = account_key(namespace, "")
    accounts: dict[str, AccountState] = {}
    async for keys in scan_chunks(redis, f"{prefix}*", chunk):
        for key, value in zip(keys, await mget_any(redis, keys), strict=True):
            if value:
                name = untagged(key.decode()[len(prefix):])
                accounts[name] = AccountState.decode(unpack_account(value)[1])
    return accounts


async def read_tx_records(redis: StateClient, namespace: str, tx_ids: list[str], chunk: int = 5000,
                          partitions: int = 1, hints: dict[str, int] | None = None
                          ) -> dict[str, dict[str, str]]:
    """The records of `tx_ids` that exist. On a Redis Cluster a record lives under its
    authorizing partition: `hints` names it where the caller knows (else every one of the
    `partitions` is asked); a credit's legacy mark (c) may sit under the destination's, so
    what each partition holds is merged."""
    cluster = is_cluster(redis)
    lookups: list[tuple[str, int | None]] = []
    for tx_id in tx_ids:
        if not cluster:
            lookups.append((tx_id, None))
        elif hints and tx_id in hints:
            lookups.append((tx_id, hints[tx_id]))
        else:
            lookups.extend((tx_id, p) for p in range(partitions))
    records: dict[str, dict[str, str]] = {}
    for start in range(0, len(lookups), chunk):
        part = lookups[start:start + chunk]
        pipe = redis.pipeline(transaction=False)
        for tx_id, partition in part:
            pipe.hgetall(tx_key(namespace, tx_id, partition))
        for (tx_id, _), fields in zip(part, await pipe.execute(), strict=True):
            if fields:
                records.setdefault(tx_id, {}).update(
                    {k.decode(): v.decode() for k, v in fields.items()})
    return records


async def read_hold_index(redis: StateClient, namespace: str) -> set[tuple[str, str]]:
    """Every (account, tx_id) in the hold-expiry index, all partitions."""
    entries: set[tuple[str, str]] = set()
    async for key in redis.scan_iter(match=f"ps:{namespace}holds:*"):
        for member in await redis.zrange(key, 0, -1):
            account, _, tx_id = member.decode().partition("|")
            entries.add((account, tx_id))
    return entries


async def read_holds_page(redis: StateClient, namespace: str, partitions: int,
                          after: tuple[int, str] | None, limit: int) -> list[tuple[int, str, str]]:
    """Open holds by expiry (the oldest decisions first), `limit` of them after `after` (an
    (expiry ms, member) a previous page ended on): (expiry ms, account, tx_id). One pipelined
    ZRANGEBYSCORE per partition, merged; the index can briefly keep a hold that was just decided,
    so callers check the transaction's status."""
    pipe = redis.pipeline(transaction=False)
    for partition in range(partitions):
        key = holds_key(namespace, partition, is_cluster(redis))
        if after is None:
            pipe.zrangebyscore(key, 0, "+inf", start=0, num=limit, withscores=True)
        else:  # the holds sharing the last page's expiry (one batch's at most), then later ones
            pipe.zrangebyscore(key, after[0], after[0], withscores=True)
            pipe.zrangebyscore(key, f"({after[0]}", "+inf", start=0, num=limit, withscores=True)
    entries = []
    for members in await pipe.execute():
        for member, score in members:
            entry = (int(score), member.decode())
            if after is None or entry > after:
                entries.append(entry)
    entries.sort()
    page = []
    for expires_ms, member in entries[:limit]:
        account, _, tx_id = member.partition("|")
        page.append((expires_ms, account, tx_id))
    return page
