"""The push channel over real HTTP on loopback: the FCM-shaped adapter against the sandbox push
service (and its token endpoint) and against a scripted one for the answers the sandbox does not
give."""

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
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr, ValidationError

from deploy.local.components import free_port, serve
from deploy.sandbox.messaging import MessagingSettings, create_app
from services.kit import jose
from services.kit.logging import configure_logging
from services.notification.adapters.providers import PushProviderSettings, unsafe_for_production
from services.notification.adapters.push import (
    FCM_SCOPE,
    JWT_BEARER_GRANT,
    HttpPushConfig,
    HttpPushProvider,
    ServiceAccount,
)
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
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    key_file = tmp_path_factory.mktemp("push") / "service-account.json"
    settings = MessagingSettings(push_project=PROJECT, push_access_token=TOKEN, delivery_delay_seconds=0.2,
                                 receipt_url="", push_service_account_file=key_file)  # fmt: skip
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
        # The token endpoint's answers, the forms it was posted, and its delay.
        self.tokens: deque[Callable[[], Response]] = deque()
        self.token_requests: list[dict[str, list[str]]] = []
        self.token_delay = 0.0
        self.app = FastAPI()

        @self.app.post("/v1/projects/{project}/messages:send")
        async def send(project: str, request: Request) -> Response:
            self.requests.append((project, dict(request.headers), await request.body()))
            scripted = self.answers.popleft()
            if self.delay:
                await asyncio.sleep(self.delay)
            return scripted()

        @self.app.post("/token")
        async def token(request: Request) -> Response:
            self.token_requests.append(parse_qs((await request.body()).decode()))
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            return self.tokens.popleft()()


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
    server.tokens.clear()
    server.token_requests.clear()
    server.token_delay = 0.0
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


# --- access tokens minted from a service account -------------------------------------------------

# A key of the portal's own (not the sandbox's): the sandbox must refuse what it signs.
OTHER_PEM, _ = jose.generate_rsa(2048, "other")


def sandbox_account(app: FastAPI, url: str, **overrides: Any) -> ServiceAccount:
    """The sandbox's development service account, its token endpoint where this test serves it."""
    raw = dict(app.state.service_account, token_uri=f"{url}/push/token", **overrides)
    return ServiceAccount.from_json(json.dumps(raw).encode())


def minting(base_url: str, account: ServiceAccount) -> HttpPushProvider:
    return HttpPushProvider(replace(config(base_url), access_token="", service_account=account))


def issued(app: FastAPI) -> tuple[int, int]:
    messaging = app.state.messaging
    return messaging.tokens_issued, messaging.tokens_refused


async def test_one_token_is_minted_for_many_concurrent_sends(sandbox: tuple[FastAPI, str]) -> None:
    app, url = sandbox
    made = minting(f"{url}/push", sandbox_account(app, url))
    before = issued(app)
    try:
        handed = await asyncio.gather(*(made.send(push(f"device-{i}")) for i in range(100)))
        assert all(h.delivered for h in handed)
        await made.send(push())
    finally:
        await made.aclose()
    assert made.mints == 1 and issued(app) == (before[0] + 1, before[1])


async def test_the_key_file_the_sandbox_wrote_is_a_service_account(sandbox: tuple[FastAPI, str]) -> None:
    app, url = sandbox
    key_file: Path = app.state.messaging.settings.push_service_account_file
    assert key_file.stat().st_mode & 0o077 == 0  # the owner's only
    written = json.loads(key_file.read_bytes())
    assert written == app.state.service_account and written["type"] == "service_account"
    settings = PushProviderSettings(name="fcm", base_url=f"{url}/push", service_account_file=key_file)
    made = settings.provider()
    assert made.config.project_id == PROJECT and made.config.service_account is not None
    assert made.config.service_account.private_key_id == "sandbox-push-development"
    await made.aclose()


async def test_a_token_is_minted_again_once_it_expires(tmp_path: Path) -> None:
    settings = MessagingSettings(push_project=PROJECT, push_access_token=TOKEN, delivery_delay_seconds=0,
                                 receipt_url="", push_token_seconds=1)  # fmt: skip
    app = create_app(settings)
    with serve(app) as url:
        made = minting(f"{url}/push", sandbox_account(app, url))
        try:
            await made.send(push())
            await made.send(push())
            assert issued(app) == (1, 0)
            await asyncio.sleep(1.0)  # a 1 s token is replaced a tenth of its life early
            await made.send(push())
            assert issued(app) == (2, 0)
            # The sandbox forgets expired tokens: the first no longer sends.
            first = next(iter(app.state.messaging.push_tokens), None)
            assert first is not None and len(app.state.messaging.push_tokens) == 1
        finally:
            await made.aclose()
        assert len(listed(url)) == 3


@pytest.mark.parametrize(
    "overrides",
    [{"private_key": OTHER_PEM.decode()}, {"client_email": "someone-else@portal.iam.sandbox.invalid"}],
    ids=["another key", "another account"],
)
async def test_the_sandbox_refuses_an_assertion_it_cannot_trust(
    sandbox: tuple[FastAPI, str], overrides: dict[str, str]
) -> None:
    app, url = sandbox
    httpx.delete(f"{url}/api/messages").raise_for_status()
    made = minting(f"{url}/push", sandbox_account(app, url, **overrides))
    before = issued(app)
    try:
        with pytest.raises(TechnicalFailure) as failed:
            await made.send(push())
    finally:
        await made.aclose()
    assert failed.value.reason == "push token endpoint answered HTTP 400 invalid_grant"
    assert issued(app) == (before[0], before[1] + 1)
    assert listed(url, token=DEVICE) == []


def assertion(app: FastAPI, url: str, **claims: Any) -> str:
    account = app.state.service_account
    now = int(time.time())
    base = {"iss": account["client_email"], "scope": FCM_SCOPE, "aud": f"{url}/push/token", "iat": now,
            "exp": now + 3600}  # fmt: skip
    base.update(claims)
    signed = {k: v for k, v in base.items() if v is not None}
    return jose.sign_pem(signed, account["private_key"].encode(), account["private_key_id"])


def test_the_sandbox_token_endpoint_checks_the_grant(sandbox: tuple[FastAPI, str]) -> None:
    app, url = sandbox
    now = int(time.time())
    for form, error in [
        ({"grant_type": "client_credentials", "assertion": assertion(app, url)}, "unsupported_grant_type"),
        ({"grant_type": JWT_BEARER_GRANT}, "invalid_request"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": "not.a.jwt"}, "invalid_grant"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(app, url, aud="https://elsewhere.invalid/token")},
         "invalid_grant"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(app, url, iat=now - 7200, exp=now - 3600)},
         "invalid_grant"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(app, url, exp=now + 7200)}, "invalid_grant"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(app, url, iat=None)}, "invalid_grant"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(app, url, scope="https://other.invalid/scope")},
         "invalid_scope"),
    ]:  # fmt: skip
        answer = httpx.post(f"{url}/push/token", data=form)
        assert (answer.status_code, answer.json()["error"]) == (400, error), form
    good = httpx.post(f"{url}/push/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion(app, url)})
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    sent = httpx.post(f"{url}/push/v1/projects/{PROJECT}/messages:send", json={"message": {"token": DEVICE}},
                      headers={"Authorization": f"Bearer {body['access_token']}"})  # fmt: skip
    assert sent.status_code == 200
    made_up = httpx.post(f"{url}/push/v1/projects/{PROJECT}/messages:send", json={"message": {"token": DEVICE}},
                         headers={"Authorization": "Bearer sandbox-push-made-up"})  # fmt: skip
    assert made_up.status_code == 401


def token_answer(minted: str = "minted-token-1", **fields: Any) -> Callable[[], Response]:
    return answer(200, {"access_token": minted, "expires_in": 3599, "token_type": "Bearer", **fields})


def scripted_account(url: str) -> ServiceAccount:
    return ServiceAccount(client_email="portal-push@portal.iam.example.invalid", private_key=OTHER_PEM.decode(),
                          token_uri=f"{url}/token", private_key_id="other", project_id=PROJECT)  # fmt: skip


@pytest.fixture
async def scripted_minting(
    scripted_server: tuple[Scripted, str], scripted: tuple[Scripted, HttpPushProvider]
) -> AsyncIterator[tuple[Scripted, HttpPushProvider]]:
    server, url = scripted_server
    made = minting(url, scripted_account(url))
    yield server, made
    await made.aclose()


async def test_the_grant_is_rfc_7523(scripted_minting: tuple[Scripted, HttpPushProvider]) -> None:
    server, made = scripted_minting
    server.tokens.append(token_answer())
    server.answers.append(answer(200, {"name": f"projects/{PROJECT}/messages/1"}))
    await made.send(push())
    [form] = server.token_requests
    assert form["grant_type"] == [JWT_BEARER_GRANT]
    header = jose.unverified_header(form["assertion"][0])
    claims = jose.unverified_claims(form["assertion"][0])
    assert header["kid"] == "other"
    assert claims["iss"] == "portal-push@portal.iam.example.invalid" and claims["scope"] == FCM_SCOPE
    assert claims["aud"] == made.config.service_account.token_uri  # type: ignore[union-attr]
    assert 0 < claims["exp"] - claims["iat"] <= 3600 and abs(claims["iat"] - time.time()) < 5
    assert server.requests[0][1]["authorization"] == "Bearer minted-token-1"


async def test_a_refused_token_is_minted_again_once(scripted_minting: tuple[Scripted, HttpPushProvider]) -> None:
    server, made = scripted_minting
    unauthenticated = answer(401, fcm(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"))
    server.tokens.extend([token_answer("minted-token-1"), token_answer("minted-token-2")])
    server.answers.extend([unauthenticated, answer(200, {"name": f"projects/{PROJECT}/messages/1"})])
    assert (await made.send(push())).delivered
    assert [r[1]["authorization"] for r in server.requests] == ["Bearer minted-token-1", "Bearer minted-token-2"]
    # Refused again with a new token: a technical failure (tried later), not a loop.
    server.tokens.append(token_answer("minted-token-3"))
    server.answers.extend([unauthenticated, unauthenticated])
    with pytest.raises(TechnicalFailure) as failed:
        await made.send(push())
    assert failed.value.reason == "push service answered HTTP 401 THIRD_PARTY_AUTH_ERROR"
    assert made.mints == 3 and len(server.requests) == 4


@pytest.mark.parametrize(
    ("token_reply", "reason"),
    [
        (answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
         "push token endpoint answered HTTP 400 invalid_grant"),
        (answer(500, b"<html>"), "push token endpoint answered HTTP 500"),
        (answer(200, {"expires_in": 3599, "token_type": "Bearer"}),
         "push token endpoint's answer is not in the contract"),
        (token_answer(expires_in="3599"), "push token endpoint's answer is not in the contract"),
        (token_answer(expires_in=0), "push token endpoint's answer is not in the contract"),
        (token_answer(token_type="mac"), "push token endpoint's answer is not in the contract"),
        (token_answer("has space"), "push token endpoint's answer is not in the contract"),
        (answer(200, b"x" * (65 * 1024)), "push token endpoint's answer is not in the contract"),
    ],
)  # fmt: skip
async def test_a_failed_mint_is_a_technical_failure(
    scripted_minting: tuple[Scripted, HttpPushProvider], token_reply: Callable[[], Response], reason: str
) -> None:
    server, made = scripted_minting
    server.tokens.append(token_reply)
    with pytest.raises(TechnicalFailure) as failed:
        await made.send(push())
    assert failed.value.reason == reason
    assert server.requests == []


async def test_a_token_endpoint_down_fails_every_waiting_send_at_once(
    scripted_minting: tuple[Scripted, HttpPushProvider], log_output: io.StringIO
) -> None:
    server, made = scripted_minting
    server.token_delay = 1.2  # past the 0.5 s timeout
    server.tokens.append(token_answer())
    results = await asyncio.gather(*(made.send(push()) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, TechnicalFailure) for r in results)
    assert {r.reason for r in results if isinstance(r, TechnicalFailure)} == {
        "push token endpoint timed out (ReadTimeout)"
    }
    assert len(server.token_requests) == 1 and made.mints == 1 and server.requests == []
    gone = minting(f"http://127.0.0.1:{free_port()}", scripted_account(f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(TechnicalFailure, match=r"^push token endpoint unreachable \(ConnectError\)$"):
            await gone.send(push())
    finally:
        await gone.aclose()
    logged = log_output.getvalue()
    assert "push not handed" in logged
    account = scripted_account("http://x")
    secrets = [account.private_key, *account.private_key.splitlines()[1:3], server.token_requests[0]["assertion"][0]]
    for secret in secrets:
        assert secret not in logged
        assert all(secret not in r.reason for r in results if isinstance(r, TechnicalFailure))


async def test_no_minted_token_or_assertion_in_logs(
    scripted_minting: tuple[Scripted, HttpPushProvider], log_output: io.StringIO
) -> None:
    server, made = scripted_minting
    server.tokens.append(token_answer("minted-secret-token"))
    server.answers.extend([answer(200, {"name": f"projects/{PROJECT}/messages/1"}), answer(500, fcm(500, "INTERNAL"))])
    await made.send(push())
    with pytest.raises(TechnicalFailure):
        await made.send(push())
    logged = log_output.getvalue()
    assert "push token minted" in logged
    for secret in ("minted-secret-token", server.token_requests[0]["assertion"][0], OTHER_PEM.decode().splitlines()[1]):
        assert secret not in logged


# --- settings ---------------------------------------------------------------------------------


def service_account_fields() -> dict[str, str]:
    return {"client_email": "portal-push@portal.iam.example.invalid", "private_key": OTHER_PEM.decode(),
            "token_uri": "https://oauth2.example.invalid/token", "project_id": "portal"}  # fmt: skip


def test_the_settings_take_exactly_one_credential(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"type": "service_account", **service_account_fields()}))
    base = {"name": "fcm", "base_url": "https://push.example.invalid"}
    fields = service_account_fields()
    for given in [{}, {"access_token": TOKEN, "service_account_file": str(key_file)},
                  {"service_account_file": str(key_file), "service_account": fields},
                  {"access_token": TOKEN, "project_id": "portal", "service_account": fields}]:  # fmt: skip
        with pytest.raises(ValidationError, match="give exactly one of access_token, service_account_file or "
                                                  "service_account") as refused:  # fmt: skip
            PushProviderSettings.model_validate({**base, **given})
        assert TOKEN not in str(refused.value) and "PRIVATE KEY" not in str(refused.value)
    with pytest.raises(ValidationError, match="project_id is required"):
        PushProviderSettings.model_validate({**base, "access_token": TOKEN})
    for given in [{"access_token": TOKEN, "project_id": "portal"}, {"service_account_file": str(key_file)},
                  {"service_account": service_account_fields()}]:  # fmt: skip
        settings = PushProviderSettings.model_validate({**base, **given})
        assert TOKEN not in repr(settings) and "PRIVATE KEY" not in repr(settings)
        assert settings.provider().config.project_id == "portal"
        assert "PRIVATE KEY" not in repr(settings.provider().config)


def test_a_service_account_that_cannot_sign_is_refused_at_start(tmp_path: Path) -> None:
    base = {"name": "fcm", "base_url": "https://push.example.invalid"}
    pem = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"
    broken = {**service_account_fields(), "private_key": pem}
    with pytest.raises(ValueError, match="not an RSA private key") as refused:
        PushProviderSettings.model_validate({**base, "service_account": broken}).provider()
    assert "not-a-key" not in str(refused.value)
    missing = PushProviderSettings.model_validate({**base, "service_account_file": str(tmp_path / "absent.json")})
    with pytest.raises(ValueError, match=r"the service account file cannot be read \(FileNotFoundError\)"):
        missing.provider()
    (tmp_path / "not.json").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        PushProviderSettings.model_validate({**base, "service_account_file": str(tmp_path / "not.json")}).provider()
    no_project = {k: v for k, v in service_account_fields().items() if k != "project_id"}
    with pytest.raises(ValueError, match="no project_id"):
        PushProviderSettings.model_validate({**base, "service_account": no_project}).provider()


def test_production_refuses_a_static_token_and_the_sandbox_account() -> None:
    def problems(**given: Any) -> list[str]:
        settings = PushProviderSettings.model_validate({"name": "fcm", "base_url": "https://push.example.invalid",
                                                        **given})  # fmt: skip
        return [p for p in unsafe_for_production([], [], [settings]) if p.startswith("push")]

    assert problems(service_account=service_account_fields()) == []
    assert problems(access_token=SecretStr("a-real-looking-token"), project_id="portal") == [
        "push provider fcm has a static access token (it expires within the hour)"
    ]
    assert problems(access_token=SecretStr("development-push-token"), project_id="portal") == [
        "push provider fcm is the sandbox"
    ]
    for sandboxed in [{"token_uri": "http://127.0.0.1:8030/push/token"},
                      {"client_email": "portal-push@portal-development.iam.sandbox.invalid"}]:  # fmt: skip
        assert problems(service_account={**service_account_fields(), **sandboxed}) == [
            "push provider fcm is the sandbox"
        ]
