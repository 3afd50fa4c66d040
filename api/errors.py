"""The API's errors: each becomes one HTTP status with a JSON body that says what to fix.

422 keeps FastAPI's documented shape ({"detail": [{"loc", "msg", "type"}]}) so every client and
the OpenAPI schema agree; the rest are {"detail": "<message>"}. Nothing a client sends may turn
into a 5xx: an unexpected error is logged with its request id and answered without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from streams.errors import PaystreamError

log = logging.getLogger("paystream.api")


class ApiError(PaystreamError):
    """A request the API refuses; `status` is its HTTP status."""

    status = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class Unauthorized(ApiError):
    """No key, or a key that is wrong or revoked."""

    status = 401


class Forbidden(ApiError):
    """The key's role may not do this."""

    status = 403


class NotFound(ApiError):
    """Nothing with that id."""

    status = 404


class Conflict(ApiError):
    """The request contradicts the current state (a verdict on a transaction that is not held)."""

    status = 409


class TooManyRequests(ApiError):
    """The key used up its rate limit; Retry-After says when to come back."""

    status = 429


class Unavailable(ApiError):
    """A store the API depends on is unreachable; worth retrying."""

    status = 503
    retriable = True


def invalid(location: str, field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming the field, in the shape FastAPI gives its own validation errors."""
    return RequestValidationError([{"loc": (location, field), "msg": message, "type": kind}])


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_plain(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        log.exception("request %s %s failed (request id %s)", request.method, request.url.path,
                      request_id)
        return JSONResponse({"detail": f"internal error; quote request id {request_id}"},
                            status_code=500)


def _plain(error: dict[str, Any]) -> dict[str, Any]:
    """Only what a client needs (pydantic adds the input and a docs URL, which may echo secrets)."""
    return {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "invalid")),
            "type": str(error.get("type", "value_error"))}
