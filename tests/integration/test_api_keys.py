"""Every change to api_keys is announced to the API processes, a TRUNCATE included."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from api.keys import CHANNEL, EVERY_KEY, KeyStore, Principal
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_a_truncate_is_announced_and_forgets_every_key(db_settings: Settings) -> None:
    async def run() -> list[str]:
        heard: list[str] = []
        connection = await asyncpg.connect(db_settings.database_url,
                                           server_settings={"search_path": db_settings.db_schema})
        try:
            await connection.add_listener(CHANNEL, lambda *args: heard.append(args[3]))
            await connection.execute("INSERT INTO api_keys (key_id, name, role, secret_hash, "
                                     "created_by) VALUES ('k1', 'n', 'analyst', 'h', 'test')")
            await connection.execute("DELETE FROM api_keys WHERE key_id = 'k1'")
            await connection.execute("TRUNCATE api_keys")
            await asyncio.sleep(0.5)
        finally:
            await connection.close()
        return heard

    assert asyncio.run(run()) == ["k1", EVERY_KEY]
    store = KeyStore(None)  # type: ignore[arg-type]  (forget touches no database)
    store._principals[b"a"] = Principal("k1", "one", "analyst")
    store._principals[b"b"] = Principal("k2", "two", "admin")
    store.forget("k1")
    assert list(store._principals) == [b"b"]
    store.forget(EVERY_KEY)
    assert not store._principals
