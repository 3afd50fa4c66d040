"""API keys: made, hashed at rest with argon2id, checked, listed and revoked.

A key reads `psk_<key_id>_<secret>`: the key id finds the row, the secret is checked against its
argon2id hash (argon2-cffi: a memory-hard hash, the OWASP recommendation for stored secrets).
Checking costs ~50 ms of CPU by design, so a process remembers which presented keys it has
verified (by their SHA-256, bounded); the row is still read on every request, so a revoked key
stops working at once. An unknown key id is checked against a dummy hash, so a wrong key takes
as long whether or not its id exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import asyncpg
from argon2 import PasswordHasher
from cachetools import LRUCache
from argon2.exceptions import InvalidHashError, VerificationError

from api.models import Key
from streams.errors import ValidationError

ROLES = ("analyst", "reviewer", "admin")
KEY_PATTERN = re.compile(r"^psk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
#: Verified keys remembered per process (SHA-256 of the key -> key id).
VERIFIED_MAX = 10_000

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


class KeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._verified: LRUCache[bytes, str] = LRUCache(maxsize=VERIFIED_MAX)
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
        match = KEY_PATTERN.match(presented)
        key_id, secret = match.groups() if match else ("", "")
        row = await self._pool.fetchrow(
            "SELECT name, role, secret_hash, revoked_at FROM api_keys WHERE key_id = $1",
            key_id) if key_id else None
        digest = hashlib.sha256(presented.encode()).digest()
        if not await self._secret_matches(digest, key_id, secret,
                                          row["secret_hash"] if row else _DUMMY_HASH):
            return None
        if row is None or row["revoked_at"] is not None:
            return None
        return Principal(key_id, row["name"], row["role"])

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
