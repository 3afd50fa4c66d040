"""API keys: made, hashed at rest with argon2id, checked, listed and revoked.

A key reads `psk_<key_id>_<secret>`: the key id finds the row, the secret is checked against its
argon2id hash (argon2-cffi: a memory-hard hash, the OWASP recommendation for stored secrets).
Checking costs ~50 ms of CPU by design, so a process remembers which presented keys it has
verified (by their SHA-256, bounded). It also remembers whom an authenticated key names, so a
request does not read the key's row: every change to a key row is announced by PostgreSQL
(NOTIFY, migration 0005) and each process drops that key at once. While the listening
connection is down, nothing is remembered and every request reads the row again. A connection
that dies without a word is noticed by a ping within 10 s (PING_EVERY_S + PING_TIMEOUT_S): that
is the longest a revoked key may still work in a process cut off from PostgreSQL's notices. An
unknown key id is checked against a dummy hash, so a wrong key takes as long whether or not its
id exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import LRUCache, TTLCache

from api.models import Key
from streams.errors import ValidationError

ROLES = ("analyst", "reviewer", "admin")
KEY_PATTERN = re.compile(r"^psk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
#: Verified keys remembered per process (SHA-256 of the key -> key id).
VERIFIED_MAX = 10_000
#: PostgreSQL's channel for key changes (migration 0005's trigger), payload the key id.
CHANNEL = "paystream_api_keys"
#: How long a remembered principal is trusted without reading its row again: revokes arrive by
#: NOTIFY within milliseconds; this only bounds what a lost notification could cost.
PRINCIPAL_TTL_S = 60.0
#: Seconds between attempts to listen again after the listening connection was lost.
RELISTEN_S = (1.0, 30.0)
#: How often the listening connection is asked whether it is alive, and how long it may take:
#: a connection lost without a word is noticed within their sum.
PING_EVERY_S, PING_TIMEOUT_S = 5.0, 5.0

log = logging.getLogger(__name__)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(32))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its name and its role."""

    key_id: str
    name: str
    role: str


def new_key() -> tuple[str, str, str]:
    """(key id, secret, the key as shown to its owner)."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return key_id, secret, f"psk_{key_id}_{secret}"


_COLUMNS = "key_id, name, role, created_at, created_by, revoked_at"


#: What a TRUNCATE of api_keys announces (migration 0008): no key id is '*'.
EVERY_KEY = "*"


class KeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._verified: LRUCache[bytes, str] = LRUCache(maxsize=VERIFIED_MAX)
        #: SHA-256 of a presented key -> its principal; used only while listening for changes.
        self._principals: TTLCache[bytes, Principal] = TTLCache(VERIFIED_MAX, PRINCIPAL_TTL_S)
        self._listener: asyncpg.Connection | None = None
        self._relisten: asyncio.Task[None] | None = None
        self._pinging: asyncio.Task[None] | None = None
        #: Key changes announced so far: a row read while one arrived is not remembered.
        self._changes = 0
        #: Checks under way: concurrent requests with the same key wait for one argon2 check
        #: (25 clients starting at once made 25 checks and a 3 s stall in `make bench-api`).
        self._checking: dict[bytes, asyncio.Future[bool]] = {}

    async def create(self, name: str, role: str, created_by: str,
                     connection: asyncpg.Connection | None = None) -> tuple[Key, str]:
        """The new key's row and the key itself (shown once, never stored)."""
        if role not in ROLES:
            raise ValidationError("role", role, f"expected one of {', '.join(ROLES)}")
        key_id, secret, key = new_key()
        secret_hash = await asyncio.to_thread(_hasher.hash, secret)
        db = connection or self._pool
        row = await db.fetchrow(
            f"INSERT INTO api_keys (key_id, name, role, secret_hash, created_by) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
            key_id, name, role, secret_hash, created_by)
        return Key(**dict(row)), key

    async def list(self, include_revoked: bool = True) -> list[Key]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at, key_id")
        return [Key(**dict(r)) for r in rows]

    async def revoke(self, key_id: str, connection: asyncpg.Connection | None = None) -> Key | None:
        """Revoke the key (a second revoke changes nothing); None when there is no such key."""
        db = connection or self._pool
        row = await db.fetchrow(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 "
            f"RETURNING {_COLUMNS}", key_id)
        return Key(**dict(row)) if row else None

    async def authenticate(self, presented: str) -> Principal | None:
        """The key's principal, or None for a malformed, unknown, wrong or revoked key."""
        digest = hashlib.sha256(presented.encode()).digest()
        known = self._principals.get(digest) if self._listener is not None else None
        if known is not None:
            return known
        match = KEY_PATTERN.match(presented)
        key_id, secret = match.groups() if match else ("", "")
        changes, listening = self._changes, self._listener is not None
        row = await self._pool.fetchrow(
            "SELECT name, role, secret_hash, revoked_at FROM api_keys WHERE key_id = $1",
            key_id) if key_id else None
        if not await self._secret_matches(digest, key_id, secret,
                                          row["secret_hash"] if row else _DUMMY_HASH):
            return None
        if row is None or row["revoked_at"] is not None:
            return None
        principal = Principal(key_id, row["name"], row["role"])
        if listening and self._listener is not None and changes == self._changes:
            self._principals[digest] = principal
        return principal

    async def listen(self, database_url: str) -> None:
        """Start listening for key changes (PostgreSQL NOTIFY on a connection of its own); until
        it listens, and whenever that connection is lost, every request reads its key's row."""
        problem = await self._connect_listener(database_url)
        if problem:
            log.warning("not listening for API key changes (%s): every request reads its key "
                        "until it is", problem)
            self._relisten_later(database_url)

    async def _connect_listener(self, database_url: str) -> str | None:
        """None once listening, else what went wrong."""
        connection = None
        try:
            connection = await asyncpg.connect(database_url, timeout=PING_TIMEOUT_S)
            await connection.add_listener(CHANNEL, self._changed)
        except Exception as exc:  # noqa: BLE001 - any failure: not listening, try again later
            if connection is not None:
                connection.terminate()
            return str(exc) or type(exc).__name__
        connection.add_termination_listener(lambda _: self._lost(database_url))
        self._changes += 1  # a row read while not listening is not remembered
        self._principals.clear()  # changes may have been missed while not listening
        self._listener = connection
        if self._pinging is None or self._pinging.done():
            self._pinging = asyncio.get_running_loop().create_task(self._ping(database_url))
        return None

    async def _ping(self, database_url: str) -> None:
        """A connection that dies without a word (a half-open TCP connection) fires no
        termination callback: ask it something every PING_EVERY_S, and count no answer as lost."""
        while True:
            await asyncio.sleep(PING_EVERY_S)
            listener = self._listener
            if listener is None:
                continue
            try:
                await listener.fetchval("SELECT 1", timeout=PING_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - whatever it was, it is not listening
                self._lost(database_url)
                listener.terminate()

    def _changed(self, _connection: Any, _pid: int, _channel: str, key_id: str) -> None:
        self.forget(key_id)

    def forget(self, key_id: str) -> None:
        """Drop what this process remembers of the key: called when its change is announced, and
        by a revoke in this process as soon as it commits (not waiting for the announcement).
        EVERY_KEY ('*', announced on a TRUNCATE) drops them all."""
        self._changes += 1
        if key_id == EVERY_KEY:
            self._principals.clear()
            return
        for digest, principal in list(self._principals.items()):
            if principal.key_id == key_id:
                del self._principals[digest]

    def _lost(self, database_url: str) -> None:
        if self._listener is None:
            return
        log.warning("lost the connection listening for API key changes: every request reads its "
                    "key until it is back")
        self._listener = None
        self._changes += 1  # a row read before this moment is not remembered
        self._principals.clear()
        self._relisten_later(database_url)

    def _relisten_later(self, database_url: str) -> None:
        async def again() -> None:
            pause = RELISTEN_S[0]
            while self._listener is None:
                await asyncio.sleep(pause)
                if await self._connect_listener(database_url) is None:
                    log.info("listening for API key changes again")
                pause = min(pause * 2, RELISTEN_S[1])

        if self._relisten is None or self._relisten.done():
            self._relisten = asyncio.get_running_loop().create_task(again())

    async def close(self) -> None:
        for task in (self._relisten, self._pinging):
            if task is not None:
                task.cancel()
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()

    async def _secret_matches(self, digest: bytes, key_id: str, secret: str, stored: str) -> bool:
        known = self._verified.get(digest)
        if known is not None and hmac.compare_digest(known, key_id):
            return True
        pending = self._checking.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._checking[digest] = asyncio.get_running_loop().create_future()
        try:
            matches = await asyncio.to_thread(_verify, stored, secret)
            if matches:
                self._verified[digest] = key_id
            pending.set_result(matches)
            return matches
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            del self._checking[digest]


def _verify(stored: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False
