"""A caller that hangs up before its body is read (the gateway gave up on a slow service) is not
a service error: no 500, no traceback, a quiet 499 that no one receives."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request

from services.kit.problems import install_problem_handlers


async def test_a_request_whose_client_went_away_is_not_an_error(caplog: Any) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/callbacks")
    async def callback(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/callbacks", "raw_path": b"/callbacks", "query_string": b"", "root_path": "",
             "headers": [(b"content-length", b"10")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
             "scheme": "http"}  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)  # raises if the disconnect reached the server as an error
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
