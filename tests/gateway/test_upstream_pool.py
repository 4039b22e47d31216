"""The gateway's own connections to a service, against a real HTTP server: kept alive and
reused, bounded, renewed when old or closed by the service, bodies streamed both ways, and
every failure typed for the gateway's answer."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from deploy.local.components import free_port
from gateway.upstream import AnswerTimeout, BrokenAnswer, ConnectFailed, PoolExhausted, UpstreamPool

pytestmark = pytest.mark.integration

KEEP_ALIVE_SECONDS = 1


def service() -> FastAPI:
    app = FastAPI()
    app.state.peers = []

    @app.api_route("/who", methods=["GET", "HEAD", "POST"])
    async def who(request: Request) -> Response:
        assert request.client is not None
        request.app.state.peers.append(request.client.port)
        body = await request.body()
        return Response(f"{len(body)}:{request.client.port}", headers={"x-echo": request.headers.get("x-in", "")})

    @app.get("/slow")
    async def slow() -> Response:
        await asyncio.sleep(2)
        return Response("late")

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FastAPI]]:
    """A real uvicorn server whose keep-alive timeout is short, so its closing idle connections
    can be seen."""
    app = service()
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            timeout_keep_alive=KEEP_ALIVE_SECONDS)  # fmt: skip
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(instance.serve()), daemon=True)
    thread.start()
    while not instance.started:
        assert thread.is_alive()
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}", app
    instance.should_exit = True
    thread.join(10)


def pool(url: str, **changes: float) -> UpstreamPool:
    settings = {"max_connections": 4, "connect_timeout": 1.0, "read_timeout": 1.0, "keepalive_expiry": 30.0}
    return UpstreamPool(url, **{**settings, **changes})  # type: ignore[arg-type]


async def exchange(p: UpstreamPool, method: str = "GET", body: bytes | AsyncIterator[bytes] | None = None,
                   headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes]:  # fmt: skip
    answer = await p.send(method, b"/who", headers or [(b"x-in", b"hello")], body)
    try:
        return answer.status, await answer.read()
    finally:
        answer.release()


async def test_one_connection_carries_exchange_after_exchange(server) -> None:
    url, app = server
    p = pool(url)
    app.state.peers.clear()
    answers = [await exchange(p) for _ in range(20)]
    assert {status for status, _ in answers} == {200}
    assert len(set(app.state.peers)) == 1
    await p.aclose()


async def test_bodies_go_whole_streamed_with_a_length_or_chunked(server) -> None:
    url, _ = server
    p = pool(url)

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 4096

    assert (await exchange(p, "POST", b"abc"))[1].startswith(b"3:")
    assert (await exchange(p, "POST", parts()))[1].startswith(b"163840:")  # chunked on the wire
    declared = [(b"content-length", b"163840")]
    assert (await exchange(p, "POST", parts(), declared))[1].startswith(b"163840:")
    status, body = await exchange(p, "HEAD")  # a length but no body: not waited for
    assert (status, body) == (200, b"")
    assert (await exchange(p))[0] == 200  # and the connection is still good
    await p.aclose()


async def test_an_idle_connection_the_service_closed_is_replaced_not_failed(server) -> None:
    url, app = server
    p = pool(url)
    app.state.peers.clear()
    await exchange(p)
    await asyncio.sleep(KEEP_ALIVE_SECONDS + 0.5)  # the service closes it; the pool hears of it
    assert (await exchange(p))[0] == 200
    assert len(set(app.state.peers)) == 2
    await p.aclose()


async def test_a_connection_older_than_the_expiry_is_not_reused(server) -> None:
    url, app = server
    p = pool(url, keepalive_expiry=0.2)
    app.state.peers.clear()
    await exchange(p)
    await asyncio.sleep(0.3)
    await exchange(p)
    assert len(set(app.state.peers)) == 2
    await p.aclose()


async def test_exchanges_are_bounded_and_a_released_answer_frees_its_slot(server) -> None:
    url, _ = server
    p = pool(url, max_connections=1, connect_timeout=0.3)
    held = await p.send("GET", b"/who", [], None)
    with pytest.raises(PoolExhausted):
        await p.send("GET", b"/who", [], None)
    await held.read()
    held.release()
    held.release()  # twice is harmless: the slot is freed once
    assert (await exchange(p))[0] == 200
    assert p.slots._value == 1
    await p.aclose()


async def test_failures_are_typed(server) -> None:
    url, _ = server
    with pytest.raises(ConnectFailed):
        await exchange(pool(f"http://127.0.0.1:{free_port()}"))
    slow = pool(url, read_timeout=0.3)
    with pytest.raises(AnswerTimeout):
        await slow.send("GET", b"/slow", [], None)
    assert slow.slots._value == 4  # the failed exchange gave its slot back
    await slow.aclose()


async def test_a_service_that_hangs_up_or_talks_nonsense_is_a_broken_answer() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    replies = [b"", b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"]

    def answer_badly() -> None:
        for reply in replies:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=answer_badly, daemon=True)
    thread.start()
    p = pool(f"http://127.0.0.1:{port}")
    for _ in range(2):
        with pytest.raises(BrokenAnswer):
            await p.send("GET", b"/", [], None)
    cut = await p.send("GET", b"/", [], None)
    with pytest.raises(BrokenAnswer):
        await cut.read()
    cut.release()
    assert p.slots._value == 4
    thread.join(5)
    listener.close()
    await p.aclose()
