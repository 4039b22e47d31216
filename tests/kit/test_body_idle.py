"""A request body that stops arriving is cut off with 408 (and the connection closed); once the
body is whole, an app may wait on the client as long as it likes (a unit test of the ASGI
middleware, the client played by a queue)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.types import Message, Receive, Scope, Send

from services.kit.http import RequestContextMiddleware

IDLE = 0.2


def scope() -> Scope:
    return {"type": "http", "method": "POST", "path": "/x", "headers": [(b"content-length", b"10")]}


async def run(app, messages: asyncio.Queue[Message]) -> list[Message]:  # type: ignore[no-untyped-def]
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = RequestContextMiddleware(app, max_body_bytes=100, body_idle_seconds=IDLE)
    await asyncio.wait_for(middleware(scope(), messages.get, send), 5)
    return sent


async def reading_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    # The body is whole: now wait for the client to go away, longer than the idle limit.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(receive(), IDLE * 3)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed() -> None:
    messages: asyncio.Queue[Message] = asyncio.Queue()
    await messages.put({"type": "http.request", "body": b"12345", "more_body": True})  # then nothing
    sent = await run(reading_app, messages)
    start = sent[0]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(sent[1]["body"])["type"].endswith("/request-timeout")


async def test_a_whole_body_leaves_the_app_free_to_wait_on_the_client() -> None:
    messages: asyncio.Queue[Message] = asyncio.Queue()
    await messages.put({"type": "http.request", "body": b"12345", "more_body": True})
    await messages.put({"type": "http.request", "body": b"67890", "more_body": False})
    sent = await run(reading_app, messages)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"1234567890"
