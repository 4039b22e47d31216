"""The push channel over real HTTP on loopback: the FCM-shaped adapter against the sandbox push
service and against a scripted one for the answers the sandbox does not give."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from deploy.local.components import free_port, serve
from deploy.sandbox.messaging import MessagingSettings, create_app
from services.kit.logging import configure_logging
from services.notification.adapters.push import HttpPushConfig, HttpPushProvider
from services.notification.domain.delivery import (
    Handed,
    PermanentFailure,
    Push,
    TechnicalFailure,
    TemporaryFailure,
)

PROJECT = "portal-test"
TOKEN = "push-access-token-0123456789"
DEVICE = "fcm-device-token:APA91bH" + "x" * 140


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[FastAPI, str]]:
    settings = MessagingSettings(push_project=PROJECT, push_access_token=TOKEN, delivery_delay_seconds=0.2,
                                 receipt_url="")  # fmt: skip
    app = create_app(settings)
    with serve(app) as url:
        yield app, url


@pytest.fixture
async def provider(sandbox: tuple[FastAPI, str]) -> AsyncIterator[HttpPushProvider]:
    _, url = sandbox
    httpx.delete(f"{url}/api/messages").raise_for_status()
    httpx.delete(f"{url}/api/behaviour").raise_for_status()
    made = HttpPushProvider(config(f"{url}/push"))
    yield made
    await made.aclose()


def config(base_url: str, **overrides: Any) -> HttpPushConfig:
    made = HttpPushConfig(name="fcm", base_url=base_url, project_id=PROJECT, access_token=TOKEN, timeout_seconds=0.5)
    return replace(made, **overrides)


_ids = iter(range(10**6))


def push(token: str = DEVICE, title: str = "Hồ sơ đã có kết quả", body: str = "Mời bạn đến nhận kết quả") -> Push:
    return Push(message_id=f"p-{next(_ids):06d}", token=token, platform="android", title=title, body=body,
                data={"dossier": "000.00.01.H22-260001", "kind": "result"})  # fmt: skip


def listed(url: str, **query: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/push", params=query)
    answer.raise_for_status()
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


def command(url: str, to: str, outcome: str, times: int = 1) -> None:
    body = {"provider": "push", "to": to, "outcome": outcome, "times": times}
    httpx.post(f"{url}/api/behaviour", json=body).raise_for_status()


# --- through the sandbox --------------------------------------------------------------------


async def test_a_push_is_taken_and_delivered_later(sandbox: tuple[FastAPI, str], provider: HttpPushProvider) -> None:
    _, url = sandbox
    message = push()
    handed = await provider.send(message)
    assert handed.provider == "fcm" and handed.delivered and handed.parts == 1  # no receipts: taken is final
    assert handed.reference.startswith(f"projects/{PROJECT}/messages/")
    [kept] = listed(url, token=DEVICE)
    assert (kept["name"], kept["title"], kept["body"], kept["data"]) == (
        handed.reference,
        message.title,
        message.body,
        message.data,
    )
    assert kept["status"] == "accepted"
    assert await eventually(lambda: listed(url, token=DEVICE)[0]["status"] == "delivered")


@pytest.mark.parametrize(
    ("outcome", "failure", "reason"),
    [
        ("permanent", PermanentFailure, "device token no longer valid (UNREGISTERED)"),
        ("refuse-permanent", PermanentFailure, "device token invalid (INVALID_ARGUMENT)"),
        ("temporary", TemporaryFailure, "push service busy (HTTP 429); retry after 1 s"),
        ("refuse-temporary", TemporaryFailure, "push service busy (HTTP 503); retry after 1 s"),
    ],
)
async def test_commanded_failures(
    sandbox: tuple[FastAPI, str], provider: HttpPushProvider, outcome: str, failure: type, reason: str
) -> None:
    _, url = sandbox
    command(url, DEVICE, outcome, times=2)
    for _ in range(2):
        with pytest.raises(failure) as raised:
            await provider.send(push())
        assert type(raised.value) is failure and raised.value.reason == reason
    assert isinstance(await provider.send(push()), Handed)
    assert [m["status"] for m in listed(url, token=DEVICE)][1:] == ["refused", "refused"]


@pytest.mark.parametrize(
    ("token", "failure"),
    [
        ("sandbox-unregistered", PermanentFailure),
        ("sandbox-invalid", PermanentFailure),
        ("sandbox-unavailable", TemporaryFailure),
    ],
)
async def test_magic_tokens(provider: HttpPushProvider, token: str, failure: type) -> None:
    for _ in range(2):
        with pytest.raises(failure):
            await provider.send(push(token))


async def test_the_sandbox_checks_the_bearer_token_and_the_project(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    for wrong, reason in [
        (config(f"{url}/push", access_token="not-it"), "push service answered HTTP 401 THIRD_PARTY_AUTH_ERROR"),
        (config(f"{url}/push", project_id="another"), "push service answered HTTP 404"),
    ]:
        made = HttpPushProvider(wrong)
        try:
            with pytest.raises(TechnicalFailure) as failed:
                await made.send(push())
            assert failed.value.reason == reason
        finally:
            await made.aclose()
    assert listed(url, token=DEVICE) == []


async def test_the_sandbox_refuses_a_message_without_a_token(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    answer = httpx.post(f"{url}/push/v1/projects/{PROJECT}/messages:send", json={"message": {"data": {}}},
                        headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert {"field": "message.token", "description": "Invalid registration token"} in error["details"][1][
        "fieldViolations"
    ]


async def test_the_sandbox_keeps_a_bounded_number_of_pushes() -> None:
    settings = MessagingSettings(push_project=PROJECT, push_access_token=TOKEN, delivery_delay_seconds=0,
                                 receipt_url="", max_kept=2)  # fmt: skip
    with serve(create_app(settings)) as url:
        made = HttpPushProvider(config(f"{url}/push"))
        try:
            sent = [await made.send(push(f"device-{i}")) for i in range(4)]
        finally:
            await made.aclose()
        assert [m["name"] for m in listed(url)] == [sent[3].reference, sent[2].reference]
        assert listed(url, token="device-0") == []
        assert httpx.delete(f"{url}/api/messages").json() == {"sms": 0, "push": 2}


# --- every answer mapped (a scripted FCM) -------------------------------------------------------


class Scripted:
    def __init__(self) -> None:
        self.answers: deque[Callable[[], Response]] = deque()
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.delay = 0.0
        self.app = FastAPI()

        @self.app.post("/v1/projects/{project}/messages:send")
        async def send(project: str, request: Request) -> Response:
            self.requests.append((project, dict(request.headers), await request.body()))
            scripted = self.answers.popleft()
            if self.delay:
                await asyncio.sleep(self.delay)
            return scripted()


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[tuple[Scripted, str]]:
    server = Scripted()
    with serve(server.app) as url:
        yield server, url


@pytest.fixture
async def scripted(scripted_server: tuple[Scripted, str]) -> AsyncIterator[tuple[Scripted, HttpPushProvider]]:
    server, url = scripted_server
    server.answers.clear()
    server.requests.clear()
    server.delay = 0.0
    made = HttpPushProvider(config(url))
    yield server, made
    await made.aclose()


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable[[], Response]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda: Response(content, status_code=status, headers=headers, media_type="application/json")


def fcm(status: int, grpc: str, code: str | None = None, *, token_field: bool = False) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code})
    if token_field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "message.token", "description": "bad"}]})  # fmt: skip
    return {"error": {"code": status, "message": "m", "status": grpc, "details": details}}


async def test_the_request_is_fcm_v1(scripted: tuple[Scripted, HttpPushProvider]) -> None:
    server, made = scripted
    server.answers.append(answer(200, {"name": f"projects/{PROJECT}/messages/0:1500415314455276%31bd1c96"}))
    message = push()
    handed = await made.send(message)
    assert handed == Handed(
        provider="fcm", reference=f"projects/{PROJECT}/messages/0:1500415314455276%31bd1c96", delivered=True
    )
    [(project, headers, body)] = server.requests
    assert project == PROJECT and headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(body) == {"message": {"token": DEVICE, "notification": {"title": message.title,
                                                                             "body": message.body},
                                            "data": message.data}}  # fmt: skip


@pytest.mark.parametrize(
    ("scripted_answer", "failure", "reason"),
    [
        (answer(404, fcm(404, "NOT_FOUND", "UNREGISTERED")), PermanentFailure,
         "device token no longer valid (UNREGISTERED)"),
        (answer(404, fcm(404, "NOT_FOUND")), PermanentFailure, "device token no longer valid (NOT_FOUND)"),
        (answer(400, fcm(400, "INVALID_ARGUMENT", "UNREGISTERED")), PermanentFailure,
         "device token no longer valid (UNREGISTERED)"),
        (answer(403, fcm(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH")), PermanentFailure,
         "device token no longer valid (SENDER_ID_MISMATCH)"),
        (answer(400, fcm(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", token_field=True)), PermanentFailure,
         "device token invalid (INVALID_ARGUMENT)"),
        (answer(400, fcm(400, "INVALID_ARGUMENT", token_field=True)), PermanentFailure,
         "device token invalid (INVALID_ARGUMENT)"),
        (answer(400, fcm(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")), TechnicalFailure,
         "push service answered HTTP 400 INVALID_ARGUMENT"),
        (answer(404, {"detail": "Not Found"}), TechnicalFailure, "push service answered HTTP 404"),
        (answer(429, fcm(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), {"Retry-After": "60"}), TemporaryFailure,
         "push service busy (HTTP 429); retry after 60 s"),
        (answer(503, fcm(503, "UNAVAILABLE", "UNAVAILABLE")), TemporaryFailure, "push service busy (HTTP 503)"),
        (answer(500, fcm(500, "INTERNAL", "INTERNAL")), TechnicalFailure, "push service answered HTTP 500 INTERNAL"),
        (answer(401, fcm(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")), TechnicalFailure,
         "push service answered HTTP 401 THIRD_PARTY_AUTH_ERROR"),
        (answer(403, fcm(403, "PERMISSION_DENIED")), TechnicalFailure,
         "push service answered HTTP 403 PERMISSION_DENIED"),
        (answer(502, b"<html>"), TechnicalFailure, "push service answered HTTP 502"),
        (answer(200, {"name": "projects/another/messages/1"}), TechnicalFailure,
         "push service's answer is not in the contract"),
        (answer(200, {}), TechnicalFailure, "push service's answer is not in the contract"),
        (answer(200, b"ok"), TechnicalFailure, "push service's answer is not in the contract"),
    ],
)  # fmt: skip
async def test_each_answer_maps_to_its_failure(
    scripted: tuple[Scripted, HttpPushProvider], scripted_answer: Callable[[], Response], failure: type, reason: str
) -> None:
    server, made = scripted
    server.answers.append(scripted_answer)
    with pytest.raises(failure) as raised:
        await made.send(push())
    assert type(raised.value) is failure and raised.value.reason == reason


async def test_a_slow_or_absent_push_service_is_a_technical_failure(
    scripted: tuple[Scripted, HttpPushProvider],
) -> None:
    server, made = scripted
    server.delay = 1.2
    server.answers.append(answer(200, {"name": f"projects/{PROJECT}/messages/1"}))
    with pytest.raises(TechnicalFailure, match=r"^push service timed out \(ReadTimeout\)$"):
        await made.send(push())
    gone = HttpPushProvider(config(f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(TechnicalFailure, match=r"^push service unreachable \(ConnectError\)$"):
            await gone.send(push())
    finally:
        await gone.aclose()


async def test_what_cannot_be_sent_never_leaves(scripted: tuple[Scripted, HttpPushProvider]) -> None:
    server, made = scripted
    with pytest.raises(PermanentFailure, match=r"^the device has no token$"):
        await made.send(push(token=""))
    # Too big is the portal's fault, not the device's: not permanent (the device is kept).
    with pytest.raises(TechnicalFailure, match="over FCM's 4096 bytes"):
        await made.send(push(body="x" * 4100))
    assert server.requests == []


def test_the_config_checks_itself_and_hides_its_token() -> None:
    made = config("http://x")
    assert TOKEN not in repr(made) and PROJECT in repr(made)
    for change, match in [({"access_token": ""}, "required"), ({"project_id": "a/b"}, "one path segment"),
                          ({"timeout_seconds": 500}, "timeout"), ({"max_in_flight": 0}, "in flight")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            replace(made, **change)


# --- what is logged --------------------------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    configure_logging("notification", "DEBUG", json=True)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous or sys.stderr)


async def test_no_token_title_or_body_in_logs_or_reasons(
    scripted: tuple[Scripted, HttpPushProvider], log_output: io.StringIO
) -> None:
    server, made = scripted
    title, body = "Kết quả hồ sơ riêng", "Nội dung riêng tư"
    server.answers.extend([
        answer(404, fcm(404, "NOT_FOUND", "UNREGISTERED")), answer(503, fcm(503, "UNAVAILABLE")),
        answer(500, {"error": {"status": f"token {DEVICE}"}}), answer(200, {"name": DEVICE}),
    ])  # fmt: skip
    reasons = []
    for _ in range(4):
        with pytest.raises((PermanentFailure, TemporaryFailure, TechnicalFailure)) as failed:
            await made.send(push(title=title, body=body))
        reasons.append(failed.value.reason)

    logged = "\n".join(json.dumps(json.loads(line), ensure_ascii=False) for line in log_output.getvalue().splitlines())
    assert "push token refused" in logged and "push service busy" in logged and "push not handed" in logged
    for secret in (DEVICE, DEVICE[:20], title, body, TOKEN):
        assert secret not in logged, secret
        assert all(secret not in reason for reason in reasons), secret
