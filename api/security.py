"""Who may call what: the bearer key, its role, and its rate limit.

Roles are ordered: an analyst reads; a reviewer also decides reviews; an admin also manages keys
and reads the audit trail. Failed authentications are rate limited per client address too, so
guessing keys costs the guesser, not the argon2 CPU of the server.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem, RateLimitItemPerMinute

from api.errors import Forbidden, TooManyRequests, Unauthorized
from api.keys import ROLES, Principal
from api.services import Services

log = logging.getLogger("paystream.api")
_bearer = HTTPBearer(auto_error=False, description="An API key: `paystream api keys create`.")
#: Failed authentications one client address may make per minute: a guesser gets 1/s against
#: 256-bit secrets, and costs the server at most ~5% of a core in argon2 checks.
FAILED_AUTH_PER_MINUTE = 60


def services(request: Request) -> Services:
    return request.app.state.services


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _within_limit(svc: Services, item: RateLimitItem, *identifiers: str) -> None:
    try:
        if await svc.limiter.hit(item, *identifiers):
            return
        stats = await svc.limiter.get_window_stats(item, *identifiers)
    except Exception as exc:  # noqa: BLE001  (the limiter's store is down: serve, say so)
        log.warning("rate limiter unavailable, request let through: %s", exc)
        return
    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
    raise TooManyRequests(f"rate limit exceeded; retry after {retry_after} s",
                          headers={"Retry-After": str(retry_after)})


async def principal(request: Request,
                    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    svc = services(request)
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'",
                           headers={"WWW-Authenticate": "Bearer"})
    who = await svc.keys.authenticate(credentials.credentials)
    if who is None:
        await _within_limit(svc, RateLimitItemPerMinute(FAILED_AUTH_PER_MINUTE), "auth-failed",
                            client_address(request) or "-")
        raise Unauthorized("invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    await _within_limit(svc, svc.rate_limit, "key", who.key_id)
    request.state.principal = who
    return who


def role_at_least(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting `role` and the roles above it."""
    needed = ROLES.index(role)

    async def check(who: Principal = Depends(principal)) -> Principal:
        if ROLES.index(who.role) < needed:
            raise Forbidden(f"role {who.role!r} may not do this; it needs {role!r} or above")
        return who

    return check


analyst = role_at_least("analyst")
reviewer = role_at_least("reviewer")
admin = role_at_least("admin")
