"""sinks.http_post against a real local HTTP server: replies in order, timeouts, refusals."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from sinks.http_post import Post, Poster

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_each_post_gets_its_own_reply_in_order_over_kept_alive_connections() -> None:
    seen: list[tuple[str, bytes, str]] = []
    peers: set[object] = set()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.match_info["code"], body, request.headers.get("X-Id", "")))
        peers.add(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        code = int(request.match_info["code"])
        if code == 599:
            await asyncio.sleep(1.0)  # slower than the poster's timeout
            code = 200
        return web.Response(status=code)

    async def run() -> list:
        app = web.Application()
        app.router.add_post("/{code}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        codes = [200, 500, 404, 429, 201] * 40 + [599]
        posts = [Post(f"http://127.0.0.1:{port}/{code}", b"x" * (2000 if i % 2 else 10),
                      [f"X-Id: {i}"]) for i, code in enumerate(codes)]
        posts.append(Post(f"http://127.0.0.1:{_closed_port()}/200", b"{}", []))
        poster = Poster(concurrency=4, timeout_s=0.3)
        try:
            loop = asyncio.get_running_loop()
            replies = await loop.run_in_executor(None, poster.post_all, posts)
            again = await loop.run_in_executor(None, poster.post_all, posts[:8])
        finally:
            poster.close()
            await runner.cleanup()
        return [codes, replies, again]

    codes, replies, again = asyncio.run(run())
    assert [r.status for r in replies[:-2]] == codes[:-1]
    assert replies[-2].status is None and replies[-2].timed_out
    assert replies[-1].status is None and not replies[-1].timed_out and replies[-1].error
    assert [r.status for r in again] == codes[:8]
    # Every body and header arrived with its request (a 2,000-byte body too: no 100-continue
    # wait), and 4 at a time shared a few kept-alive connections, not one per request.
    # Each POST sent once (libcurl retried none), the second call's 8 again.
    assert sorted(int(x) for _, _, x in seen) == sorted([*range(201), *range(8)])
    assert {len(body) for _, body, _ in seen} == {10, 2000}
    assert len(peers) <= 8
