"""`paystream api`: serve the analysts' API and console; `paystream api keys`: manage its keys."""

from __future__ import annotations

import asyncio
import getpass
import signal
import socket
import sys
import uuid
from typing import Any

import click

from streams.errors import PaystreamError


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on [default: PAYSTREAM_API_HOST, 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port [default: PAYSTREAM_API_PORT, 8000]; 0 picks a free one (logged).")
@click.pass_context
def api(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the analysts' HTTP API and console (until Ctrl-C).

    Reads the reporting store and ledger (DATABASE_URL, PAYSTREAM_DB_SCHEMA), account state
    (REDIS_URL) and publishes review verdicts to Kafka. Docs at /docs, the console at /.
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from api.app import create_app
    from streams.metrics import start as start_metrics

    settings = ctx.obj.settings
    _check_schema(settings)
    bound = _socket(host or settings.api_host, settings.api_port if port is None else port)
    address, chosen = bound.getsockname()[:2]
    click.echo(f"paystream API on http://{address}:{chosen}/ (docs: /docs)", err=True)
    metrics_port = start_metrics(settings, "api")
    click.echo(f"paystream API metrics on http://{settings.metrics_host}:{metrics_port}/metrics",
               err=True)
    config = uvicorn.Config(create_app(settings), log_level="info", access_log=False,
                            server_header=False, proxy_headers=False)
    # uvicorn re-raises the SIGTERM it shut down on, with the handler it found installed: this
    # one makes that a normal exit, so exit hooks run (the metrics target file is removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.Server(config).run(sockets=[bound])


def _socket(host: str, port: int) -> socket.socket:
    """Bound before uvicorn starts, so port 0 can be reported and a busy port fails clearly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise PaystreamError(f"cannot listen on {host}:{port}: {exc.strerror}; set --port or "
                             f"PAYSTREAM_API_PORT") from exc
    return sock


def _check_schema(settings: Any) -> None:
    """Fail at start, not on the first request, when the API's tables are missing."""
    import psycopg

    try:
        with psycopg.connect(settings.database_url, connect_timeout=5) as connection:
            found = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name IN ('api_keys', 'audit', 'review_verdicts', 'report_transactions')",
                (settings.db_schema,)).fetchone()
    except psycopg.OperationalError as exc:
        raise PaystreamError(f"cannot reach PostgreSQL ({exc}); is the stack up (`make up`)?") from exc
    if not found or found[0] < 4:
        raise PaystreamError(f"schema {settings.db_schema!r} lacks the API's tables: run "
                             f"`paystream db migrate`")


@api.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed; a key is shown once)."""


def _run(settings: Any, work: Any) -> Any:
    import asyncpg

    from api.keys import KeyStore

    async def go() -> Any:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2,
                                         server_settings={"search_path": settings.db_schema})
        try:
            return await work(pool, KeyStore(pool))
        finally:
            await pool.close()

    return asyncio.run(go())


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@keys.command("create")
@click.option("--role", type=click.Choice(["analyst", "reviewer", "admin"]), required=True,
              help="analyst reads; reviewer also decides reviews; admin also manages keys.")
@click.option("--name", required=True, help="Whose key this is (shown in lists and the audit trail).")
@click.pass_obj
def keys_create(obj: Any, role: str, name: str) -> None:
    """Create a key; its last line of output is the key itself (shown this once)."""
    from api import audit

    async def work(pool: Any, store: Any) -> Any:
        async with pool.acquire() as connection, connection.transaction():
            row, key = await store.create(name, role, _actor(), connection)
            await audit.record(connection, _actor(), "cli", "key.create", row.key_id, None,
                               uuid.uuid4().hex, {"name": name, "role": role})
        return row, key

    _check_schema(obj.settings)
    row, key = _run(obj.settings, work)
    click.echo(f"created key {row.key_id} ({row.role}) for {row.name}; it is shown once:", err=True)
    click.echo(key)


@keys.command("list")
@click.pass_obj
def keys_list(obj: Any) -> None:
    """Every key: id, role, name, when created and revoked."""
    async def work(_pool: Any, store: Any) -> Any:
        return await store.list()

    for row in _run(obj.settings, work):
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.key_id}  {row.role:<8}  {revoked:<24}  {row.name}")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_obj
def keys_revoke(obj: Any, key_id: str) -> None:
    """Revoke a key: it stops working at once."""
    from api import audit

    async def work(pool: Any, store: Any) -> Any:
        async with pool.acquire() as connection, connection.transaction():
            row = await store.revoke(key_id, connection)
            if row is not None:
                await audit.record(connection, _actor(), "cli", "key.revoke", key_id, None,
                                   uuid.uuid4().hex, {"name": row.name})
        return row

    if _run(obj.settings, work) is None:
        raise PaystreamError(f"no key {key_id!r} (see `paystream api keys list`)")
    click.echo(f"revoked {key_id}")
