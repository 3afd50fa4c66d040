"""paystream's Redis module (native/redis) against agents/commit.lua, on real Redis: the same
batches through both leave the same keys, values and expiries, answer the same conflicts, and
what the module writes reaches the AOF as plain commands a server without it loads."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from agents.batch import BatchResult, HoldChange, OutboxEntry, OutputMessage
from agents.fraud.fanin import Payment
from agents.store import MODULE_COMMIT, RedisStateStore, StateConflictError, commit_kind
from streams.errors import StateStoreError
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration

MODULE = Path(__file__).resolve().parents[2] / "native" / "redis" / "build" / "paystream.so"
DAY_MS = 86_400_000


@pytest.fixture
def namespaces(redis_url: str):  # type: ignore[no-untyped-def]
    pair = (f"lua-{uuid.uuid4().hex[:8]}-", f"mod-{uuid.uuid4().hex[:8]}-")
    yield pair
    for namespace in pair:
        clean_redis_namespace(redis_url, namespace)


async def _dump(redis: Redis, namespace: str) -> dict[str, Any]:
    """Every key of the namespace (prefix taken off): its value in a comparable form and
    whether it expires (and about when: the two runs are seconds apart at most)."""
    out: dict[str, Any] = {}
    prefix = f"ps:{namespace}"
    async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
        kind = (await redis.type(key)).decode()
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        else:
            value = kind
        ttl = await redis.pttl(key)
        name = key.decode()[len(prefix):]
        out[name] = (kind, value, -1 if ttl < 0 else round(ttl / 60_000))
    return out


def _batches(seed: int) -> list[tuple[set[str], BatchResult, list[OutboxEntry]]]:
    """Batches that use every section of the commit: accounts new and old, records new and
    other (a credit mark, a held one, a payout's), indexes past one RPUSH chunk, event-time marks
    whose pruning keeps what is HELD, holds added and gone, fan-in past its cap with days opened,
    outbox entries written and dropped."""
    rng = random.Random(seed)
    batches = []
    accounts = [f"acc-{n}" for n in range(40)]
    shops = [f"shop-{n}" for n in range(5)]
    event_time = 10 * DAY_MS
    sent: list[OutboxEntry] = []
    for b in range(8):
        result = BatchResult()
        touched = set(rng.sample(accounts, 12))
        result.dirty = set(touched)
        for n in range(2_100 if b == 1 else 300):  # batch 1: past an RPUSH chunk (2,000)
            tx_id = f"t{b}-{n}"
            partition = n % 3
            event_time += rng.randrange(0, 400_000)
            status = rng.choice(["APPROVED", "APPROVED", "DECLINED", "HELD"])
            fields = {"h": f"hash-{tx_id}", "s": status}
            if status == "HELD":
                fields["a"] = rng.choice(accounts)
            if n % 97 == 0:
                fields["p"] = '{"payout": 1}'
            result.set_tx(tx_id, **fields)
            result.tx_index.append((partition, event_time, tx_id))
            result.partition_event_time[partition] = event_time
            if status == "HELD":
                result.holds.append(HoldChange(tx_id, fields["a"], partition,
                                               event_time + DAY_MS))
            payer = rng.choice(accounts)
            result.fan_in.append(Payment(rng.choice(shops) if n % 4 else f"p2p-{n % 90}",
                                         payer, event_time))
        if b > 0:  # a credit's mark on a record of an earlier batch: no index, a TTL
            result.set_tx(f"t{b - 1}-7", c="1")
            result.set_tx(f"late-{b}", c="1")
            result.holds.append(HoldChange(f"t{b - 1}-3", "acc-1", 0, None))
        result.outputs = {p: [OutputMessage("decisions", b"k%d" % p, b"v" * (b + p))]
                          for p in range(3)}
        batches.append((touched, result, list(sent)))
        sent = [OutboxEntry("transactions", p, f"batch-{b}") for p in range(3)]
    return batches


async def _run(redis: Redis, namespace: str, commit_with: str, seed: int) -> list[str]:
    store = RedisStateStore(redis, namespace, tx_ttl_s=3_600, window_ms=DAY_MS,
                            commit_with=commit_with)  # type: ignore[arg-type]
    outcomes = []
    for b, (touched, result, sent) in enumerate(_batches(seed)):
        paying = {f"pay-{b}-{n}": payment for n, payment in enumerate(result.fan_in)}
        view = await store.read(touched, set(result.tx_updates), {0, 1, 2}, paying)
        counted = sum(seen.count for seen in view.fan_in.values())
        outcomes.append(f"fan-in {len(view.fan_in)} {counted} {sorted(view.fan_in.items())}")
        for name in touched:
            state = view.account(name)
            state.balances["EUR"] = state.balance("EUR") + 100 * (b + 1)
            state.profile = bytes([b]) * 232
        await store.commit(view, result, "transactions", f"batch-{b}", sent)
        outcomes.append("ok")
    # A stale view: its versions moved since. Then a record created meanwhile for another body.
    stale = await store.read({"acc-0", "acc-1"}, set(), {0})
    stale.account("acc-0").seq += 1
    await store.commit(stale, BatchResult(dirty={"acc-0"}), "transactions", "again-1")
    for attempt in (stale, await store.read({"acc-5"}, set(), {0})):
        name = "acc-0" if attempt is stale else "acc-5"
        attempt.account(name).seq += 1
        conflicting = BatchResult(dirty={name})
        conflicting.set_tx("t7-11", h="another body", s="APPROVED")  # the last batch's
        conflicting.tx_index.append((0, 1, "t7-11"))
        try:
            await store.commit(attempt, conflicting, "transactions", "conflict")
            outcomes.append("ok")
        except StateConflictError as exc:
            outcomes.append(str(exc).replace(namespace, "<ns>"))
    return outcomes


def test_the_module_writes_what_the_script_writes(redis_url: str,
                                                  namespaces: tuple[str, str]) -> None:
    async def run() -> tuple[list[str], list[str], dict[str, Any], dict[str, Any]]:
        redis = Redis.from_url(redis_url)
        try:
            assert await commit_kind(redis, "auto") == "module", (
                "the local stack's Redis has not loaded native/redis's module (make up builds "
                "and loads it)")
            lua = await _run(redis, namespaces[0], "lua", seed=7)
            module = await _run(redis, namespaces[1], "module", seed=7)
            return lua, module, await _dump(redis, namespaces[0]), await _dump(redis, namespaces[1])
        finally:
            await redis.aclose()

    lua, module, by_lua, by_module = asyncio.run(run())
    assert lua == module
    assert [o for o in lua[:-2] if not o.startswith("fan-in")] == ["ok"] * 8
    assert all(o.split()[1] != "0" for o in lua[:-2:2])  # every read counted payments
    assert int(lua[-4].split()[2]) > 0  # and found payers seen before
    # both conflicts refused, by both, naming the key: an account's version, a record's body
    assert "ac:acc-0" in lua[-2] and "t:t7-11" in lua[-1] and "another body" in lua[-1]
    assert by_lua == by_module
    kinds = {kind for kind, _, _ in by_lua.values()}
    assert kinds == {"string", "hash", "zset", "list"}
    assert any(name.startswith("t:") and ttl >= 0 for name, (_, _, ttl) in by_lua.items())
    assert any(name.startswith("t:") and value.get(b"k") == b"1"  # kept while HELD
               for name, (_, value, _) in by_lua.items() if isinstance(value, dict))


def test_malformed_arguments_are_refused_before_anything_is_written(redis_url: str) -> None:
    async def run() -> list[str]:
        redis = Redis.from_url(redis_url)
        errors = []
        try:
            for args in ([], ["x"], [5, "k"], [1, "ps:modtest-ac:a", 1, "0"]):
                try:
                    await redis.execute_command(MODULE_COMMIT, *args)
                    errors.append("accepted")
                except Exception as exc:  # noqa: BLE001 - the error's words are the point
                    errors.append(str(exc))
            assert await redis.exists("ps:modtest-ac:a") == 0
        finally:
            await redis.aclose()
        return errors

    errors = asyncio.run(run())
    assert "wrong number of arguments" in errors[0]
    assert "numkeys" in errors[1] and "numkeys" in errors[2]
    assert "malformed arguments" in errors[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--appendonly", "yes", "--appendfsync", "always", "--save", "", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise AssertionError("a scratch redis-server did not start")


def _stop(server: subprocess.Popen[bytes], port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown"], capture_output=True, check=False)
    server.wait(timeout=10)


def test_a_server_without_the_module_loads_what_the_module_wrote(tmp_path: Path) -> None:
    # The module's writes are replicated as the plain commands the script's do: the AOF of a
    # server that had it loads into one that has not (a restart that drops the module loses
    # nothing), and a store that used the module goes on by the scripts (agents/store.py).
    assert MODULE.exists(), "native/redis's module is not built (make redis-module)"
    port = _free_port()

    async def run() -> tuple[dict[str, Any], dict[str, Any], list[str], dict[str, Any]]:
        server = _server(tmp_path, port, "--loadmodule", str(MODULE))
        redis = Redis(port=port)
        store = RedisStateStore(redis, "aof-", tx_ttl_s=3_600, window_ms=DAY_MS)
        try:
            await _run(redis, "aof-", "module", seed=11)
            paying = {"t-x": Payment("shop-1", "acc-2", 11 * DAY_MS)}
            view = await store.read({"acc-2"}, set(), {0}, paying)
            view.account("acc-2").seq += 1
            await store.commit(view, BatchResult(dirty={"acc-2"}), "transactions", "m-1")
            written = await _dump(redis, "aof-")
            commands = await redis.info("commandstats")
        finally:
            _stop(server, port)
        server = _server(tmp_path, port)
        try:
            loaded = await _dump(redis, "aof-")
            for attempt in (1, 2):  # the first may find the pool's connection dead
                try:
                    view = await store.read({"acc-2"}, set(), {0}, paying)
                    break
                except StateStoreError:
                    assert attempt == 1
            view.account("acc-2").seq += 1
            await store.commit(view, BatchResult(dirty={"acc-2"}), "transactions", "s-1")
            after = await _dump(redis, "aof-")
            by = [name for name in ("cmdstat_evalsha", "cmdstat_paystream.commit",
                                    "cmdstat_paystream.fanin")
                  if name in await redis.info("commandstats")]
        finally:
            await redis.aclose()
            _stop(server, port)
        return written, loaded, by, {"before": commands, "after": after}

    written, loaded, by, more = asyncio.run(run())
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert len(written) > 1_000 and loaded == written
    assert {"cmdstat_paystream.commit", "cmdstat_paystream.fanin"} <= set(more["before"])
    assert by == ["cmdstat_evalsha"]  # the second server's batches went by the scripts
    assert more["after"]["ac:acc-2"][1].startswith(b"%d|" % (int(written["ac:acc-2"][1]
                                                                 .split(b"|")[0]) + 1))
