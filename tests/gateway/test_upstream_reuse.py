"""A connection the service closed is never used for the next request: after a service's 500
(its server closes the connection a moment after answering), when the close is already waiting
on the socket, and when a reused connection is lost before any byte of answer — then a request
that is safe to repeat goes again on a new connection, and one that is not fails (502)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.settings import SERVICES
from gateway.upstream import ClosedBeforeAnswer, UpstreamPool
from services.kit.problems import install_problem_handlers
from tests.gateway.gateway_harness import gateway_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


def failing_service() -> FastAPI:
    """A service built as the portal's are (problem handlers): ``/boom`` is an unhandled error."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/api/v1/payment/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    @app.get("/api/v1/payment/jwks")
    async def jwks() -> dict[str, list[str]]:
        return {"keys": []}

    return app


class SlowErrorLog(logging.Handler):
    """Writing the traceback of an unhandled error takes the server a while (as a real log does):
    its close follows the 500 late enough for the next request to be on its way."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            time.sleep(0.3)


@pytest.fixture
def gateway_to_failing_payment() -> Iterator[str]:
    handler = SlowErrorLog()
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(handler)
    try:
        with serve(failing_service()) as service:
            urls = dict.fromkeys(SERVICES, service)
            with serve(create_app(gateway_settings(urls, upstream_timeout_seconds=5.0))) as gateway:
                yield gateway
    finally:
        server_log.removeHandler(handler)


def test_after_a_services_500_the_next_request_gets_its_answer(gateway_to_failing_payment: str) -> None:
    with httpx.Client(base_url=gateway_to_failing_payment, timeout=10) as client:
        for _ in range(3):
            failed = client.get("/api/v1/payment/boom")
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/problem+json"
            after = client.get("/api/v1/payment/jwks")
            assert after.status_code == 200, after.text
            assert after.json() == {"keys": []}


class ScriptedService:
    """A raw HTTP server: each accepted connection follows the next script in turn — ``answer``
    (one keep-alive answer per request), ``answer-then-close`` (one answer, then the connection
    closed) or ``answer-then-drop`` (one answer; the next request read and left unanswered,
    the connection closed)."""

    def __init__(self, *scripts: str) -> None:
        self.scripts = list(scripts)
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for script in self.scripts:
            conn, _ = self.listener.accept()
            with conn:
                self._request(conn)
                conn.sendall(OK)
                if script == "answer-then-close":
                    time.sleep(0.05)  # after the client has its answer
                elif script == "answer-then-drop":
                    self._request(conn)
                elif script == "answer":
                    while self._request(conn):
                        conn.sendall(OK)

    def _request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)  # fmt: skip
        while len(rest) < length:
            rest += conn.recv(65536)
        self.requests.append(head.split(b"\r\n", 1)[0])
        return True

    def close(self) -> None:
        self.listener.close()


def pool(url: str) -> UpstreamPool:
    return UpstreamPool(url, max_connections=2, connect_timeout=1.0, read_timeout=2.0, keepalive_expiry=30.0)


async def exchange(p: UpstreamPool, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None,
                   body: bytes | None = None) -> tuple[int, bytes]:  # fmt: skip
    answer = await p.send(method, b"/x", headers or [], body)
    try:
        return answer.status, await answer.read()
    finally:
        answer.release()


async def test_an_idle_connection_whose_close_is_waiting_is_not_reused() -> None:
    service = ScriptedService("answer-then-close", "answer")
    p = pool(service.url)
    assert await exchange(p) == (200, b"ok")
    # The service's close reaches the socket while the event loop is busy elsewhere (blocked
    # here on purpose): the pool has not been told yet, and must see it for itself.
    time.sleep(0.2)
    assert p._idle and not p._idle[0].closed
    assert p._take_idle() is None
    assert await exchange(p) == (200, b"ok")
    await p.aclose()
    service.close()


@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        ("GET", [], None),
        ("PUT", [(b"content-type", b"application/json")], b"{}"),
        ("POST", [(b"idempotency-key", b"k-1")], b"{}"),
    ],
)
async def test_a_request_safe_to_repeat_goes_again_on_a_new_connection(
    method: str, headers: list[tuple[bytes, bytes]], body: bytes | None
) -> None:
    service = ScriptedService("answer-then-drop", "answer")
    p = pool(service.url)
    assert await exchange(p) == (200, b"ok")
    assert await exchange(p, method, headers, body) == (200, b"ok")
    assert [line.split(b" ")[0] for line in service.requests] == [b"GET", method.encode(), method.encode()]
    await p.aclose()
    service.close()


async def test_a_post_without_idempotency_key_is_not_sent_twice() -> None:
    service = ScriptedService("answer-then-drop", "answer")
    p = pool(service.url)
    assert await exchange(p) == (200, b"ok")
    with pytest.raises(ClosedBeforeAnswer):
        await exchange(p, "POST", [], b"{}")
    await asyncio.sleep(0.1)
    assert [line.split(b" ")[0] for line in service.requests] == [b"GET", b"POST"]
    assert p.slots._value == 2
    await p.aclose()
    service.close()


async def test_a_new_connection_that_closes_unanswered_is_not_retried() -> None:
    # Only a reused connection may have been closed before the request reached the service.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def hang_up() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            accepted.append(1)
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    p = pool(f"http://127.0.0.1:{listener.getsockname()[1]}")
    with pytest.raises(ClosedBeforeAnswer):
        await exchange(p)
    await asyncio.sleep(0.1)
    assert accepted == [1]
    await p.aclose()
    listener.close()
