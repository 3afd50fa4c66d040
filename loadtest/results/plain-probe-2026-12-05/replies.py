"""The worker's side of plain commands: what reading many replies costs redis-py.

A commit as plain commands sends ~2-3 commands a transaction where the script is one command a
batch, and redis-py reads each reply with its own `await connection.read_response()`. This
times, on a scratch redis-server, 4,000 HSETs and a MULTI/EXEC of them (as a 4,000-transaction
batch would send) read reply by reply, the same bytes read by one hiredis Reader in a loop,
and one EVALSHA that does the 4,000 HSETs itself (the way the commit script does now).

    python replies.py
"""
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import hiredis
from paystream_avro import pack_command
from redis.asyncio import Redis

PORT = 17012
N = 4_000
ROUNDS = 20


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="replies-probe-"))
    server = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1",
                               "--save", "", "--dir", str(home)], stdout=subprocess.DEVNULL)
    try:
        redis = Redis(port=PORT)
        for _ in range(100):
            try:
                await redis.ping()
                break
            except Exception:
                await asyncio.sleep(0.05)
        commands = [("HSET", f"t:{i:08d}", "h", "0123456789abcdef01234567", "s", "APPROVED")
                    for i in range(N)]
        packed = b"".join(pack_command(c) for c in commands)
        multi = pack_command(("MULTI",)) + packed + pack_command(("EXEC",))
        script = redis.register_script(
            "for i = 1, #KEYS do redis.call('HSET', KEYS[i], 'h', ARGV[2*i-1], 's', ARGV[2*i]) end"
            " return 'ok'")
        args = [a for c in commands for a in (c[3], c[5])]
        await script(keys=[c[1] for c in commands], args=args)  # loaded
        pool = redis.connection_pool

        async def per_reply(payload: bytes, replies: int) -> None:
            connection = await pool.get_connection()
            try:
                await connection.send_packed_command(payload)
                for _ in range(replies):
                    await connection.read_response()
            finally:
                await pool.release(connection)

        async def one_reader(payload: bytes, replies: int) -> None:
            connection = await pool.get_connection()
            try:
                await connection.send_packed_command(payload)
                reader, got = hiredis.Reader(), 0
                stream = connection._reader  # the asyncio StreamReader under redis-py
                while got < replies:
                    reader.feed(await stream.read(1 << 20))
                    while (reply := reader.gets()) is not False:
                        got += 1
            finally:
                await pool.release(connection)

        # packed by the store's own packer, as agents/store.py sends its scripts
        evalsha = pack_command(("EVALSHA", script.sha, N, *[c[1] for c in commands], *args))

        ways = {"pipelined HSETs, a read_response each": lambda: per_reply(packed, N),
                "MULTI/EXEC, a read_response each": lambda: per_reply(multi, N + 2),
                "MULTI/EXEC, one hiredis Reader": lambda: one_reader(multi, N + 2),
                "one EVALSHA doing the HSETs": lambda: per_reply(evalsha, 1)}
        for name, way in ways.items():
            times = []
            for _ in range(ROUNDS):
                started = time.process_time()
                await way()
                times.append((time.process_time() - started) * 1e6 / N)
            times.sort()
            print(f"{name:40s} client CPU per command {times[len(times) // 2]:5.2f} µs "
                  f"(median of {ROUNDS})")
        await redis.aclose()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(home)


if __name__ == "__main__":
    asyncio.run(main())
