"""PostgreSQL for the sinks: versioned migrations (yoyo) and asyncpg connections in one schema.

Migrations are the SQL files in sinks/migrations, applied in order by yoyo-migrations, which
records each in the schema's own `_yoyo_migration` table: `paystream db migrate` applies what is
missing and does nothing twice. yoyo needs a DB-API driver, psycopg 3; the sinks themselves use
asyncpg. Every object lives in one schema (PAYSTREAM_DB_SCHEMA), so tests and tenants each get
their own.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from sinks.runner import StoreUnavailable
from streams.codec import Codec
from streams.errors import ConfigError
from streams.ledgerchain import EPOCH

SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: What a stopped, restarting or unreachable server raises: worth retrying on a new connection.
#: Anything else (a constraint violated, bad SQL) is a bug and stops the sink. InternalClientError
#: is here because a server shutting down sends an unsolicited FATAL to an idle connection: asyncpg
#: parks the protocol in its error state, and until the socket's close is seen every query on that
#: connection raises it ("cannot switch to state 15; another operation (2) is in progress").
UNAVAILABLE = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
               asyncpg.InterfaceError, asyncpg.exceptions.OperatorInterventionError,
               asyncpg.InternalClientError)


class DatabaseError(StoreUnavailable):
    """PostgreSQL refused or could not be reached."""


def check_schema(schema: str) -> str:
    if not SCHEMA_PATTERN.match(schema):
        raise ConfigError(f"PAYSTREAM_DB_SCHEMA={schema!r}: expected a lower-case identifier "
                          f"([a-z_][a-z0-9_]*, at most 63 characters)")
    return schema


def migrate(database_url: str, schema: str) -> list[str]:
    """Apply the migrations not applied yet, then grant the schema to paystream's roles (sinks/
    roles.py); return the ids applied (empty when up to date).

    A schema already up to date is only read, so a process connecting as a role of least
    privilege (which may not create anything) starts on a migrated schema; migrating is then the
    owner's job (`paystream db migrate`)."""
    from yoyo import get_backend, read_migrations

    check_schema(schema)
    migrations = read_migrations(str(resources.files("sinks").joinpath("migrations")))
    if {m.id for m in migrations} <= _applied(database_url, schema):
        return []
    url = urlsplit(database_url)
    yoyo_url = urlunsplit(("postgresql+psycopg", url.netloc, url.path, f"schema={schema}", ""))
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        backend = get_backend(yoyo_url)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise DatabaseError(f"schema {schema!r} needs migrations and this role may not apply "
                            f"them: run `paystream db migrate` as the schema's owner ({exc})") from exc
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot reach PostgreSQL at {url.hostname}:{url.port}: {exc}") from exc
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    grant(database_url, schema)
    return [m.id for m in pending]


def _applied(database_url: str, schema: str) -> set[str]:
    """The ids of the migrations recorded in `schema` (none if it has no record yet)."""
    import psycopg

    try:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as connection:
            rows = connection.execute(f'SELECT migration_id FROM "{schema}"._yoyo_migration').fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName,
            psycopg.errors.InsufficientPrivilege):
        return set()
    except psycopg.OperationalError as exc:
        url = urlsplit(database_url)
        raise DatabaseError(f"cannot reach PostgreSQL at {url.hostname}:{url.port}: {exc}") from exc
    return {row[0] for row in rows}


def grant(database_url: str, schema: str) -> list[str]:
    """Grant `schema` to those of paystream's roles that exist; return the statements run."""
    import psycopg

    from sinks.roles import ROLES, grant_statements

    with psycopg.connect(database_url, autocommit=True) as connection:
        roles = {row[0] for row in connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLES),))}
        tables = {row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
        statements = grant_statements(check_schema(schema), roles, tables)
        with connection.transaction():
            for statement in statements:
                connection.execute(statement)
    return statements


async def connect(database_url: str, schema: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(database_url, timeout=10, server_settings={
            "search_path": check_schema(schema), "timezone": "UTC"})
    except UNAVAILABLE as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL: {exc}") from exc


#: PostgreSQL's timestamp epoch, as a datetime and in microseconds from the Unix epoch.
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_PG_EPOCH_US = (_PG_EPOCH - EPOCH) // _ONE_US


def _timestamp_out(value: Any) -> tuple[int]:
    """An epoch-ms integer or an aware datetime as microseconds from PostgreSQL's epoch."""
    if value.__class__ is int:
        return (value * 1000 - _PG_EPOCH_US,)
    return ((value - _PG_EPOCH) // _ONE_US,)


async def epoch_ms_timestamps(connection: asyncpg.Connection) -> None:
    """Let `connection` take a timestamptz as integer milliseconds from the Unix epoch, the unit
    of every time in our Avro records (timestamp-millis), as well as a datetime. Reads still
    give datetimes.

    The sinks' rows go as COPY data made in compiled code (sinks/rows.py); their statements'
    times (the rollups' buckets) come as integers here: a datetime made for each and encoded by
    asyncpg cost ~1.4 µs per value, against ~0.1 for an integer handed to asyncpg's binary
    encoding as microseconds from 2000 (2026-12-02). Integers are exact, so the time read back
    is the millisecond written (the ledger's hashes depend on it).
    """
    await connection.set_type_codec(
        "timestamptz", schema="pg_catalog", format="tuple", encoder=_timestamp_out,
        decoder=lambda value: _PG_EPOCH + timedelta(microseconds=value[0]))


@asynccontextmanager
async def connected(database_url: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection in `schema` for one piece of work (checks, queries), closed after it."""
    connection = await connect(database_url, schema)
    try:
        yield connection
    finally:
        await connection.close()


async def copy_data(connection: asyncpg.Connection, table: str, columns: Sequence[str],
                    data: bytes) -> None:
    """COPY binary COPY data (paystream_avro: sinks/rows.py, the floor) into `table`. It goes as a
    memoryview: asyncpg would take bytes for a file's path."""
    await connection.copy_to_table(table, source=memoryview(data), columns=columns,
                                   format="binary")


async def copy_new_rows(connection: asyncpg.Connection, table: str, columns: tuple[str, ...],
                        data: bytes) -> bool:
    """COPY rows (`data`: binary COPY data, sinks/rows.py) straight into `table`; False (nothing
    written) if any of them is there already.

    A batch is almost always all new, and one COPY into the table costs PostgreSQL about half of
    a COPY into a staging table plus `INSERT ... ON CONFLICT DO NOTHING` from it. The rare batch
    that repeats rows (a replay after a crash or a rebalance) gets a unique violation: the
    savepoint undoes the COPY and the caller takes the staged, conflict-proof path.
    """
    try:
        async with connection.transaction():  # a savepoint inside the caller's transaction
            await copy_data(connection, table, columns, data)
        return True
    except asyncpg.UniqueViolationError:
        return False


async def copy_into_stage(connection: asyncpg.Connection, stage: str, table: str,
                          columns: tuple[str, ...], data: bytes) -> None:
    """COPY rows into `stage`, a temporary twin of `table` emptied at every commit: the path
    for a batch that repeats rows (copy_new_rows refused it), rare enough that the table is
    declared on every use rather than remembered per connection."""
    await connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                             f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    await copy_data(connection, stage, columns, data)


class PostgresStore:
    """A sink store on PostgreSQL: one connection, one writer (LedgerWriter, ReportingWriter).

    `rows`, when given, turns a batch's message values into what the writer takes (sinks/rows.py:
    compiled, from the Avro bodies), or None when it cannot, and the runner decodes them record
    by record instead (the writer takes those records too)."""

    def __init__(self, database_url: str, schema: str,
                 make_writer: Callable[[asyncpg.Connection], Any],
                 rows: Callable[[Codec, list[bytes]], Any] | None = None) -> None:
        self._url, self._schema, self._make_writer = database_url, schema, make_writer
        self._rows = rows
        self._connection: asyncpg.Connection | None = None
        self._writer: Any = None

    def rows(self, codec: Codec, values: list[bytes]) -> Any:
        return self._rows(codec, values) if self._rows is not None else None

    async def open(self) -> None:
        self._connection = await connect(self._url, self._schema)
        await epoch_ms_timestamps(self._connection)
        self._writer = self._make_writer(self._connection)

    async def write(self, batch: Any) -> int:
        """`batch`: what `rows` made, or (role, record) pairs."""
        records = [record for _, record in batch] if isinstance(batch, list) else batch
        try:
            return await self._writer.write(records)
        except UNAVAILABLE as exc:
            raise DatabaseError(f"PostgreSQL write failed: {exc}") from exc

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()
