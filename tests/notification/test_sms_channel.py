"""The SMS channel over real HTTP on loopback: the adapter against the sandbox providers (which
deliver later and post signed receipts to a real receipt endpoint) and against a scripted
provider for every answer the sandbox does not give; the sandbox's own behaviours."""

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
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from deploy.local.components import free_port, serve
from deploy.sandbox.messaging import MessagingSettings, create_app
from services.kit import webhooks
from services.kit.logging import configure_logging
from services.notification.adapters.sms import (
    HttpSmsConfig,
    HttpSmsProvider,
    MalformedReceipt,
    ReceiptRefused,
    ReceiptSignatureRefused,
    parse_receipts,
)
from services.notification.domain.delivery import (
    DeliveryFailure,
    Handed,
    PermanentFailure,
    Receipt,
    Sms,
    TechnicalFailure,
    TemporaryFailure,
)
from services.notification.domain.sms import MAX_PARTS

SECRETS = {"a": "sms-a-secret-0123456789", "b": "sms-b-secret-0123456789"}
KEYS = {"a": "sms-a-key-0123456789", "b": "sms-b-key-0123456789"}
DELAY = 0.3


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """``check()`` once it is truthy, polled for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


def parse_receipt(provider: str, headers: dict[str, str], body: bytes, secrets: list[str], now: datetime) -> Receipt:
    """The one receipt a post carries."""
    [receipt] = parse_receipts(provider, headers, body, secrets, now)
    return receipt


class Portal:
    """The portal's receipt endpoint, a real route: every post is checked by ``parse_receipts``."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.raw: list[tuple[str, dict[str, str], bytes]] = []
        self.failing = 0
        self.app = FastAPI()

        @self.app.post("/receipts/sms/{provider}")
        async def take(provider: str, request: Request) -> Response:
            body = await request.body()
            self.raw.append((provider, dict(request.headers), body))
            if self.failing:
                self.failing -= 1
                return Response(status_code=503)
            try:
                told = parse_receipts(provider, request.headers, body, [SECRETS[provider]], datetime.now(UTC))
            except ReceiptRefused as refused:
                return Response(status_code=refused.status_code)
            self.receipts.extend(told)
            return Response(status_code=204)

    def receipt_for(self, reference: str) -> Receipt | None:
        return next((r for r in self.receipts if r.reference == reference), None)


def sandbox_settings(receipt_url: str, **overrides: Any) -> MessagingSettings:
    values: dict[str, Any] = {
        "a_api_key": KEYS["a"], "a_secret": SECRETS["a"], "b_api_key": KEYS["b"], "b_secret": SECRETS["b"],
        "b_unicode": False, "receipt_url": receipt_url, "delivery_delay_seconds": DELAY,
        "receipt_retry_seconds": 0.05, "receipt_attempts": 3,
    }  # fmt: skip
    return MessagingSettings(**(values | overrides))


@pytest.fixture(scope="module")
def portal() -> Iterator[tuple[Portal, str]]:
    receiver = Portal()
    with serve(receiver.app) as url:
        yield receiver, url


@pytest.fixture(scope="module")
def sandbox(portal: tuple[Portal, str]) -> Iterator[tuple[FastAPI, str]]:
    app = create_app(sandbox_settings(f"{portal[1]}/receipts/sms/{{provider}}"))
    with serve(app) as url:
        yield app, url


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> None:
    if "sandbox" not in request.fixturenames:
        return
    receiver, _ = request.getfixturevalue("portal")
    _, url = request.getfixturevalue("sandbox")
    receiver.receipts.clear()
    receiver.raw.clear()
    receiver.failing = 0
    httpx.delete(f"{url}/api/messages").raise_for_status()
    httpx.delete(f"{url}/api/behaviour").raise_for_status()


def config(url: str, name: str = "a", **overrides: Any) -> HttpSmsConfig:
    base = HttpSmsConfig(name=name, base_url=f"{url}/{name}", api_key=KEYS[name], signing_secret=SECRETS[name],
                         brand_name="DVCQG", timeout_seconds=2.0)  # fmt: skip
    return replace(base, **overrides)


@pytest.fixture
async def providers(sandbox: tuple[FastAPI, str]) -> AsyncIterator[dict[str, HttpSmsProvider]]:
    _, url = sandbox
    made = {"a": HttpSmsProvider(config(url, "a")), "b": HttpSmsProvider(config(url, "b"))}
    yield made
    for provider in made.values():
        await provider.aclose()


def listed(url: str, **query: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/sms", params=query)
    answer.raise_for_status()
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


def command(url: str, provider: str, to: str, outcome: str, times: int = 1) -> None:
    body = {"provider": provider, "to": to, "outcome": outcome, "times": times}
    httpx.post(f"{url}/api/behaviour", json=body).raise_for_status()


_ids = iter(range(10**6))


def sms(to: str, text: str = "Hồ sơ của bạn đã được tiếp nhận.") -> Sms:
    return Sms(message_id=f"msg-{next(_ids):06d}", to=to, text=text)


# --- sending through the sandbox ---------------------------------------------------------------


async def test_an_sms_is_taken_delivered_later_and_its_signed_receipt_believed(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider]
) -> None:
    _, url = sandbox
    receiver, _ = portal
    message = sms("+84912345678")
    started = time.monotonic()
    handed = await providers["a"].send(message)

    assert handed == Handed(provider="a", reference=handed.reference, delivered=False, parts=1)
    [kept] = listed(url, to="+84912345678")
    if time.monotonic() - started < DELAY:  # (a loaded machine may take longer than the delay to ask)
        assert kept["status"] == "accepted"  # not yet: delivered later
    assert (kept["id"], kept["provider"], kept["to"], kept["sender"]) == (handed.reference, "a", "84912345678", "DVCQG")
    assert (kept["text"], kept["unicode"], kept["client_ref"]) == (
        "Ho so cua ban da duoc tiep nhan.",
        False,
        message.message_id,
    )

    receipt = await eventually(lambda: receiver.receipt_for(handed.reference))
    assert receipt is not None and (receipt.provider, receipt.status, receipt.detail) == ("a", "delivered", None)
    assert receipt.at.tzinfo is not None and abs(receipt.at - datetime.now(UTC)) < timedelta(seconds=10)
    assert listed(url, to="84912345678")[0]["status"] == "delivered"


async def test_a_unicode_route_gets_the_vietnamese_text_and_a_gsm7_route_refuses_it(
    sandbox: tuple[FastAPI, str],
) -> None:
    _, url = sandbox
    text = "Hồ sơ " + "đã được tiếp nhận " * 4
    unicode_a = HttpSmsProvider(config(url, "a", plain_latin_only=False))
    unicode_b = HttpSmsProvider(config(url, "b", plain_latin_only=False))
    try:
        handed = await unicode_a.send(sms("+84912000001", text))
        assert handed.parts == 2  # 78 UTF-16 code units
        [kept] = listed(url, to="+84912000001")
        assert (kept["text"], kept["unicode"], kept["parts"]) == (text, True, 2)

        with pytest.raises(PermanentFailure, match="HTTP 400: unicode_refused"):
            await unicode_b.send(sms("+84912000002", text))
        # The same route takes a GSM-7 text from the same adapter as GSM-7.
        assert (await unicode_b.send(sms("+84912000002", "Ho so da duoc tiep nhan"))).parts == 1
    finally:
        await unicode_a.aclose()
        await unicode_b.aclose()


async def test_a_send_repeated_after_a_lost_answer_is_not_sent_twice(
    sandbox: tuple[FastAPI, str], providers: dict[str, HttpSmsProvider]
) -> None:
    _, url = sandbox
    message = sms("+84912000003")
    first = await providers["a"].send(message)
    again = await providers["a"].send(message)
    assert first == again
    assert len(listed(url, to="+84912000003")) == 1
    # Another provider is another message (failover sends it there).
    assert (await providers["b"].send(message)).reference != first.reference
    assert [m["provider"] for m in listed(url, to="+84912000003")] == ["b", "a"]


@pytest.mark.parametrize(
    ("outcome", "status", "detail"),
    [("temporary", "temporary-failure", "absent_subscriber"), ("permanent", "permanent-failure", "unknown_subscriber")],
)
async def test_a_commanded_failure_after_acceptance_comes_as_a_receipt(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider],
    outcome: str, status: str, detail: str,
) -> None:  # fmt: skip
    _, url = sandbox
    receiver, _ = portal
    command(url, "a", "+84912000004", outcome, times=1)
    handed = await providers["a"].send(sms("+84912000004"))
    receipt = await eventually(lambda: receiver.receipt_for(handed.reference))
    assert receipt is not None and (receipt.status, receipt.detail) == (status, detail)
    assert listed(url, to="+84912000004")[0]["status"] == "failed"

    # Used once: the next one is delivered.
    second = await providers["a"].send(sms("+84912000004"))
    receipt = await eventually(lambda: receiver.receipt_for(second.reference))
    assert receipt is not None and receipt.status == "delivered"


async def test_commanded_refusals_answer_the_send_itself(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider]
) -> None:
    _, url = sandbox
    receiver, _ = portal
    command(url, "a", "+84912000005", "refuse-temporary", times=2)
    command(url, "b", "84912000005", "refuse-permanent")
    for _ in range(2):
        with pytest.raises(TemporaryFailure) as busy:
            await providers["a"].send(sms("+84912000005"))
        assert busy.value.reason == "provider busy (HTTP 503); retry after 1 s"
    with pytest.raises(PermanentFailure) as refused:
        await providers["b"].send(sms("+84912000005"))
    assert refused.value.reason == "refused by the provider (HTTP 400: invalid_number)"
    assert (await providers["a"].send(sms("+84912000005"))).parts == 1  # the two times are used up
    assert [m["status"] for m in listed(url, to="+84912000005")][1:] == ["refused", "refused", "refused"]
    await asyncio.sleep(DELAY + 0.2)
    assert len(receiver.receipts) == 1  # refused sends get no receipt


@pytest.mark.parametrize(
    ("number", "on_a", "on_b"),
    [
        ("+84900000400", PermanentFailure, PermanentFailure),
        ("+84900000503", TemporaryFailure, TemporaryFailure),
        ("+84900000410", "permanent-failure", "permanent-failure"),
        ("+84900000408", "temporary-failure", "temporary-failure"),
        ("+84900000513", TemporaryFailure, "delivered"),
        ("+84900000514", "permanent-failure", "delivered"),
    ],
)
async def test_magic_numbers_fail_without_a_command(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider],
    number: str, on_a: Any, on_b: Any,
) -> None:  # fmt: skip
    receiver, _ = portal
    for name, expected in (("a", on_a), ("b", on_b)):
        message = sms(number, "Ket qua da san sang")
        if isinstance(expected, type):
            with pytest.raises(expected):
                await providers[name].send(message)
            continue
        handed = await providers[name].send(message)
        receipt = await eventually(lambda ref=handed.reference: receiver.receipt_for(ref))
        assert receipt is not None and receipt.status == expected


async def test_receipts_are_posted_again_while_the_portal_answers_no_2xx(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider]
) -> None:
    _, url = sandbox
    receiver, _ = portal
    receiver.failing = 2
    handed = await providers["a"].send(sms("+84912000006"))
    receipt = await eventually(lambda: receiver.receipt_for(handed.reference))
    assert receipt is not None and receipt.status == "delivered"
    assert (await eventually(lambda: listed(url, to="+84912000006")[0]["receipt_replies"])) == [503, 503, 204]
    assert len(receiver.raw) == 3 and len({body for *_, body in receiver.raw}) == 1

    # Never more than receipt_attempts posts.
    receiver.failing = 10
    handed = await providers["a"].send(sms("+84912000007"))
    replies = await eventually(lambda: len(listed(url, to="+84912000007")[0]["receipt_replies"]) == 3)
    await asyncio.sleep(0.3)
    assert replies and listed(url, to="+84912000007")[0]["receipt_replies"] == [503, 503, 503]


async def test_the_sandbox_checks_the_api_key_and_the_signature(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    for wrong in (config(url, "a", api_key="not-the-key"), config(url, "a", signing_secret="not-the-secret")):
        provider = HttpSmsProvider(wrong)
        try:
            with pytest.raises(TechnicalFailure, match=r"^provider answered HTTP 401$"):
                await provider.send(sms("+84912000008"))
        finally:
            await provider.aclose()
    assert listed(url, to="+84912000008") == []


def signed_post(url: str, body: dict[str, Any], provider: str = "a") -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {"X-API-Key": KEYS[provider], "X-Signature": webhooks.sign(raw, SECRETS[provider], int(time.time()))}
    return httpx.post(f"{url}/{provider}/v1/messages", content=raw, headers=headers)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"to": "14155550100"}, "invalid_number"),
        ({"to": "+84912345678"}, "invalid_number"),
        ({"to": "8491234567"}, "invalid_number"),
        ({"from": "Bad!"}, "invalid_sender"),
        ({"from": "TWELVE_CHARS"}, "invalid_sender"),
        ({"text": ""}, "empty_text"),
        ({"text": "Hồ sơ"}, "text_not_gsm7"),
        ({"text": "a" * (153 * MAX_PARTS + 1)}, "text_too_long"),
        ({"text": "ă" * (67 * MAX_PARTS + 1), "unicode": True}, "text_too_long"),
    ],
)
def test_the_sandbox_refuses_what_a_provider_refuses(
    sandbox: tuple[FastAPI, str], change: dict[str, Any], error: str
) -> None:
    _, url = sandbox
    body = {"from": "DVCQG", "to": "84912000009", "text": "Xin chao", "unicode": False, "client_ref": "m-1"}
    answer = signed_post(url, body | change)
    assert (answer.status_code, answer.json()) == (400, {"error": error})
    assert signed_post(url, body).status_code == 200


def test_the_sandbox_refuses_a_request_outside_the_contract(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    answer = signed_post(url, {"from": "DVCQG", "to": "84912000009", "text": "x"})
    assert (answer.status_code, answer.json()) == (422, {"error": "invalid_request"})


async def test_sms_go_in_bulk_each_answered_for_itself_and_their_receipts_together(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str]
) -> None:
    _, url = sandbox
    receiver, _ = portal
    command(url, "a", "+84912000051", "refuse-temporary")
    command(url, "a", "+84912000052", "refuse-permanent")
    numbers = ["+84912000050", "+84912000051", "+84912000052", "0912000053", "+84912000054", "+84912000055"]
    messages = [sms(n) for n in numbers]
    provider = HttpSmsProvider(config(url, "a", batch_size=2))
    try:
        answers = await provider.send_many(messages)
        again = await provider.send_many([messages[0]])  # a repeat is answered with the message taken
    finally:
        await provider.aclose()

    kinds = [type(a).__name__ for a in answers]
    assert kinds == ["Handed", "TemporaryFailure", "PermanentFailure", "PermanentFailure", "Handed", "Handed"]
    failures = [a for a in answers if isinstance(a, DeliveryFailure)]
    assert [f.reason for f in failures] == ["refused by the provider: unavailable",
                                            "refused by the provider: invalid_number",
                                            "the number is not in E.164 form"]  # fmt: skip
    handed = [a for a in answers if isinstance(a, Handed)]
    assert again == [answers[0]]
    assert {m["client_ref"] for m in listed(url)} == {m.message_id for m in messages if m.to.startswith("+")}
    references = {h.reference for h in handed}
    assert await eventually(lambda: references <= {r.reference for r in receiver.receipts})
    posts = [body for *_, body in receiver.raw if any(r.encode() in body for r in references)]
    assert len(posts) < 3 and all(b'"receipts"' in body for body in posts)  # gathered


def test_the_sandbox_bounds_a_bulk_request(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    one = {"from": "DVCQG", "to": "84912000060", "text": "Xin chao", "unicode": False}

    def post(body: dict[str, Any], key: str = KEYS["a"]) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = {"X-API-Key": key, "X-Signature": webhooks.sign(raw, SECRETS["a"], int(time.time()))}
        return httpx.post(f"{url}/a/v1/messages/batch", content=raw, headers=headers)

    too_many = post({"messages": [one | {"client_ref": f"m-{i}"} for i in range(101)]})
    assert (too_many.status_code, too_many.json()) == (422, {"error": "invalid_request"})
    assert post({"messages": []}).status_code == 422
    assert post({"messages": [one | {"client_ref": "m-1"}]}, key="wrong").status_code == 401
    taken = post({"messages": [one | {"client_ref": f"m-{i}"} for i in range(100)]})
    assert taken.status_code == 200 and len(taken.json()["results"]) == 100


# --- every answer mapped (a scripted provider) -------------------------------------------------


class Scripted:
    """A real HTTP endpoint answering each send with the next scripted answer."""

    def __init__(self) -> None:
        self.answers: deque[Callable[[], Response]] = deque()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.delay = 0.0
        self.in_flight = self.most_in_flight = 0
        self.app = FastAPI()

        @self.app.post("/v1/messages")
        @self.app.post("/v1/messages/batch")
        async def send(request: Request) -> Response:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                self.requests.append((dict(request.headers), await request.body()))
                scripted = self.answers.popleft()
                if self.delay:
                    await asyncio.sleep(self.delay)
                return scripted()
            finally:
                self.in_flight -= 1


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[tuple[Scripted, str]]:
    server = Scripted()
    with serve(server.app) as url:
        yield server, url


@pytest.fixture
async def scripted(scripted_server: tuple[Scripted, str]) -> AsyncIterator[tuple[Scripted, HttpSmsProvider]]:
    server, url = scripted_server
    server.answers.clear()
    server.requests.clear()
    server.delay = 0.0
    server.most_in_flight = 0
    provider = HttpSmsProvider(HttpSmsConfig(name="scripted", base_url=url, api_key="key-1", signing_secret="sign-1",
                                             brand_name="DVCQG", timeout_seconds=0.5))  # fmt: skip
    yield server, provider
    await provider.aclose()


REFUSED = "refused by the provider"
AT_MOST = f"at most {MAX_PARTS} are sent."
NOT_IN_CONTRACT = "provider's answer is not in the contract"


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable[[], Response]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda: Response(content, status_code=status, headers=headers, media_type="application/json")


async def test_the_request_is_signed_and_in_the_contract(scripted: tuple[Scripted, HttpSmsProvider]) -> None:
    server, provider = scripted
    server.answers.append(answer(200, {"id": "ref-1", "parts": 1, "status": "accepted"}))
    message = Sms(message_id="m-42", to="+84912345678", text="Đã nhận")
    assert await provider.send(message) == Handed(provider="scripted", reference="ref-1", parts=1)
    [(headers, body)] = server.requests
    assert headers["x-api-key"] == "key-1" and headers["content-type"] == "application/json"
    webhooks.verify(headers["x-signature"], body, ["sign-1"], now=int(time.time()))
    assert json.loads(body) == {"from": "DVCQG", "to": "84912345678", "text": "Da nhan", "unicode": False,
                                "client_ref": "m-42"}  # fmt: skip


@pytest.mark.parametrize(
    ("scripted_answer", "failure", "reason"),
    [
        (answer(400, {"error": "invalid_number"}), PermanentFailure, f"{REFUSED} (HTTP 400: invalid_number)"),
        (answer(422, {"error": "text refused for +84912345678"}), PermanentFailure, f"{REFUSED} (HTTP 422)"),
        (answer(400, {"error": "84912345678"}), PermanentFailure, f"{REFUSED} (HTTP 400)"),
        (answer(400, b"<html>bad</html>"), PermanentFailure, f"{REFUSED} (HTTP 400)"),
        (answer(429, {}, {"Retry-After": "30"}), TemporaryFailure, "provider busy (HTTP 429); retry after 30 s"),
        (answer(429, {}), TemporaryFailure, "provider busy (HTTP 429)"),
        (answer(503, {}, {"Retry-After": "86400"}), TemporaryFailure, "provider busy (HTTP 503); retry after 3600 s"),
        (answer(503, {}, {"Retry-After": "soon"}), TemporaryFailure, "provider busy (HTTP 503)"),
        (answer(500, {}), TechnicalFailure, "provider answered HTTP 500"),
        (answer(502, b""), TechnicalFailure, "provider answered HTTP 502"),
        (answer(401, {"error": "unauthorized"}), TechnicalFailure, "provider answered HTTP 401"),
        (answer(302, b"", {"Location": "http://elsewhere.invalid/"}), TechnicalFailure, "provider answered HTTP 302"),
        (answer(200, {"id": "r", "parts": 1, "status": "queued"}), TechnicalFailure, NOT_IN_CONTRACT),
        (answer(200, {"parts": 1, "status": "accepted"}), TechnicalFailure, NOT_IN_CONTRACT),
        (answer(200, {"id": "r", "parts": "1", "status": "accepted"}), TechnicalFailure, NOT_IN_CONTRACT),
        (answer(200, {"id": "r", "parts": 0, "status": "accepted"}), TechnicalFailure, NOT_IN_CONTRACT),
        (answer(200, {"id": "r r", "parts": 1, "status": "accepted"}), TechnicalFailure, NOT_IN_CONTRACT),
        (answer(200, b"accepted"), TechnicalFailure, NOT_IN_CONTRACT),
        (answer(200, b"[" * 20_000), TechnicalFailure, NOT_IN_CONTRACT),
    ],
)  # fmt: skip
async def test_each_answer_maps_to_its_failure(
    scripted: tuple[Scripted, HttpSmsProvider], scripted_answer: Callable[[], Response], failure: type, reason: str
) -> None:
    server, provider = scripted
    server.answers.append(scripted_answer)
    with pytest.raises(failure) as raised:
        await provider.send(sms("+84912345678"))
    assert type(raised.value) is failure and raised.value.reason == reason


def bulk_results(*results: dict[str, Any]) -> Callable[[], Response]:
    return answer(200, {"results": list(results)})


ACCEPTED = {"status": "accepted", "parts": 1}


@pytest.mark.parametrize(
    ("scripted_answer", "expected"),
    [
        (answer(503, {}, {"Retry-After": "5"}), ["TemporaryFailure: provider busy (HTTP 503); retry after 5 s"] * 2),
        (answer(400, {"error": "invalid_request"}), ["TechnicalFailure: provider answered HTTP 400"] * 2),
        (answer(500, {}), ["TechnicalFailure: provider answered HTTP 500"] * 2),
        (answer(200, {"results": [ACCEPTED | {"client_ref": "b-0", "id": "r-0"}]}),
         [f"TechnicalFailure: {NOT_IN_CONTRACT}"] * 2),
        (bulk_results(ACCEPTED | {"client_ref": "b-0", "id": "r-0"}, ACCEPTED | {"client_ref": "b-9", "id": "r-1"}),
         ["r-0", f"TechnicalFailure: {NOT_IN_CONTRACT}"]),
        (bulk_results({"client_ref": "b-0", "status": "refused", "error": "unavailable", "temporary": True},
                      {"client_ref": "b-1", "status": "refused", "error": "+84912345678"}),
         ["TemporaryFailure: refused by the provider: unavailable", "PermanentFailure: refused by the provider"]),
        (bulk_results(ACCEPTED | {"client_ref": "b-0", "id": "r 0"}, {"client_ref": "b-1", "status": "queued"}),
         [f"TechnicalFailure: {NOT_IN_CONTRACT}"] * 2),
    ],
)  # fmt: skip
async def test_each_bulk_answer_maps_to_each_message(
    scripted: tuple[Scripted, HttpSmsProvider], scripted_answer: Callable[[], Response], expected: list[str]
) -> None:
    server, provider = scripted
    server.answers.append(scripted_answer)
    answers = await provider.send_many([Sms("b-0", "+84912345678", "Xin chao"), Sms("b-1", "+84912345679", "Đã nhận")])
    seen = [a.reference if isinstance(a, Handed) else f"{type(a).__name__}: {a.reason}" for a in answers]
    assert seen == expected
    [(headers, body)] = server.requests
    webhooks.verify(headers["x-signature"], body, ["sign-1"], now=int(time.time()))
    assert [m["client_ref"] for m in json.loads(body)["messages"]] == ["b-0", "b-1"]
    assert json.loads(body)["messages"][1]["text"] == "Da nhan"


async def test_a_retry_after_date_is_read_as_seconds_from_now(scripted: tuple[Scripted, HttpSmsProvider]) -> None:
    server, provider = scripted
    when = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    server.answers.append(answer(503, {}, {"Retry-After": when}))
    with pytest.raises(TemporaryFailure) as busy:
        await provider.send(sms("+84912345678"))
    seconds = int(busy.value.reason.rsplit("after ", 1)[1].removesuffix(" s"))
    assert 115 <= seconds <= 120


async def test_no_more_than_max_in_flight_calls_at_once(scripted_server: tuple[Scripted, str]) -> None:
    server, url = scripted_server
    server.delay, server.most_in_flight = 0.05, 0
    server.answers.extend(answer(200, {"id": f"r-{i}", "parts": 1, "status": "accepted"}) for i in range(12))
    provider = HttpSmsProvider(HttpSmsConfig(name="s", base_url=url, api_key="k", signing_secret="s",
                                             brand_name="DVCQG", max_in_flight=3))  # fmt: skip
    try:
        handed = await asyncio.gather(*(provider.send(sms("+84912345678")) for _ in range(12)))
    finally:
        await provider.aclose()
    assert sorted(h.reference for h in handed) == sorted(f"r-{i}" for i in range(12))
    assert server.most_in_flight == 3


async def test_a_slow_provider_is_a_technical_failure(scripted: tuple[Scripted, HttpSmsProvider]) -> None:
    server, provider = scripted
    server.delay = 1.5
    server.answers.append(answer(200, {"id": "late", "parts": 1, "status": "accepted"}))
    started = time.monotonic()
    with pytest.raises(TechnicalFailure, match=r"^provider timed out \(ReadTimeout\)$"):
        await provider.send(sms("+84912345678"))
    assert time.monotonic() - started < 1.4


async def test_an_unreachable_provider_is_a_technical_failure() -> None:
    provider = HttpSmsProvider(HttpSmsConfig(name="gone", base_url=f"http://127.0.0.1:{free_port()}",
                                             api_key="k", signing_secret="s", brand_name="DVCQG"))  # fmt: skip
    try:
        with pytest.raises(TechnicalFailure, match=r"^provider unreachable \(ConnectError\)$"):
            await provider.send(sms("+84912345678"))
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (Sms("m", "0912345678", "x"), "the number is not in E.164 form"),
        (Sms("m", "+84 912 345 678", "x"), "the number is not in E.164 form"),
        (Sms("m", "+84912345678", ""), "An SMS needs a text."),
        (Sms("m", "+84912345678", "ă" * 1000), f"The text makes 7 SMS parts (GSM-7, 1000 characters); {AT_MOST}"),
    ],
)  # fmt: skip
async def test_what_cannot_be_sent_never_leaves(
    scripted: tuple[Scripted, HttpSmsProvider], message: Sms, reason: str
) -> None:
    server, provider = scripted
    with pytest.raises(PermanentFailure) as refused:
        await provider.send(message)
    assert refused.value.reason == reason and server.requests == []


def test_the_config_checks_itself_and_hides_its_secrets() -> None:
    made = HttpSmsConfig(name="a", base_url="http://x", api_key="KEY-123", signing_secret="SECRET-456",
                         brand_name="DVCQG")  # fmt: skip
    assert "KEY-123" not in repr(made) and "SECRET-456" not in repr(made) and "DVCQG" in repr(made)
    with pytest.raises(ValueError, match="brand name"):
        replace(made, brand_name="Dịch vụ công")
    with pytest.raises(ValueError, match="required"):
        replace(made, signing_secret="")
    with pytest.raises(ValueError, match="timeout"):
        replace(made, timeout_seconds=0)
    for wrong in (0, 257):
        with pytest.raises(ValueError, match="in flight"):
            replace(made, max_in_flight=wrong)
    for wrong in (0, 101):
        with pytest.raises(ValueError, match="bulk request"):
            replace(made, batch_size=wrong)


# --- receipts --------------------------------------------------------------------------------


async def a_signed_receipt(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider]
) -> tuple[dict[str, str], bytes]:
    receiver, _ = portal
    handed = await providers["a"].send(sms("+84912000010"))
    assert await eventually(lambda: receiver.receipt_for(handed.reference))
    [(_, headers, body)] = receiver.raw
    return headers, body


async def test_a_receipt_is_refused_with_a_wrong_secret_an_old_time_or_a_changed_body(
    sandbox: tuple[FastAPI, str], portal: tuple[Portal, str], providers: dict[str, HttpSmsProvider]
) -> None:
    headers, body = await a_signed_receipt(sandbox, portal, providers)
    now = datetime.now(UTC)
    assert parse_receipt("a", headers, body, [SECRETS["a"]], now).status == "delivered"
    # Secrets rotate: the previous one still in force is enough.
    assert parse_receipt("a", headers, body, ["the-new-secret", SECRETS["a"]], now).status == "delivered"

    refusals = {
        "wrong secret": lambda: parse_receipt("a", headers, body, [SECRETS["b"]], now),
        "no secret": lambda: parse_receipt("a", headers, body, [""], now),
        "old": lambda: parse_receipt("a", headers, body, [SECRETS["a"]], now + timedelta(minutes=6)),
        "changed": lambda: parse_receipt("a", headers, body.replace(b"delivered", b"failed\x20\x20\x20"),
                                         [SECRETS["a"]], now),
        "unsigned": lambda: parse_receipt("a", {"content-type": "application/json"}, body, [SECRETS["a"]], now),
    }  # fmt: skip
    for what, attempt in refusals.items():
        with pytest.raises(ReceiptSignatureRefused) as refused:
            attempt()
        assert refused.value.status_code == 401, what


def signed(body: bytes, secret: str = SECRETS["a"], at: datetime | None = None) -> dict[str, str]:
    return {"X-Signature": webhooks.sign(body, secret, int((at or datetime.now(UTC)).timestamp()))}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"status": "delivered", "at": "2026-12-07T10:00:00+00:00"}',
        b'{"id": "r-1", "status": "sent", "at": "2026-12-07T10:00:00+00:00"}',
        b'{"id": "r-1", "status": ["failed"], "at": "2026-12-07T10:00:00+00:00"}',
        b'{"id": "r-1", "status": "failed", "permanent": "yes", "at": "2026-12-07T10:00:00+00:00"}',
        b'{"id": "r-1", "status": "delivered", "at": "2026-12-07T10:00:00"}',
        b'{"id": "r-1", "status": "delivered", "at": "yesterday"}',
        b'{"id": "r-1", "status": "delivered"}',
        b'{"id": "r-1", "status": "delivered", "at": "2026-12-07T10:00:00+00:00", "pad": "' + b"x" * 263_000 + b'"}',
        b'{"receipts": []}',
        b'{"receipts": {"id": "r-1"}}',
        b'{"receipts": [{"id": "r-1", "status": "delivered", "at": "2026-12-07T10:00:00+00:00"}], "more": 1}',
        b'{"receipts": [{"id": "r-1", "status": "delivered", "at": "2026-12-07T10:00:00+00:00"}, "r-2"]}',
    ],
)
def test_a_genuine_receipt_outside_the_contract_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedReceipt) as refused:
        parse_receipt("a", signed(body), body, [SECRETS["a"]], datetime.now(UTC))
    assert refused.value.status_code == 400


def test_many_receipts_come_in_one_post_each_checked() -> None:
    now = datetime.now(UTC)
    one = {"status": "delivered", "at": "2026-12-07T17:00:00+07:00"}
    body = json.dumps({"receipts": [{"id": f"r-{i}", **one} for i in range(500)]}).encode()
    told = parse_receipts("a", signed(body), body, [SECRETS["a"]], now)
    assert [r.reference for r in told] == [f"r-{i}" for i in range(500)]
    assert {r.status for r in told} == {"delivered"}

    too_many = json.dumps({"receipts": [{"id": f"r-{i}", **one} for i in range(501)]}).encode()
    with pytest.raises(MalformedReceipt, match="1 to 500"):
        parse_receipts("a", signed(too_many), too_many, [SECRETS["a"]], now)
    third_bad = json.dumps({"receipts": [{"id": "r-0", **one}, {"id": "r-1", **one}, {"id": "r 2", **one}]}).encode()
    with pytest.raises(MalformedReceipt, match=r"^Receipt 2: A receipt names the provider's message id\.$"):
        parse_receipts("a", signed(third_bad), third_bad, [SECRETS["a"]], now)


def test_a_receipt_maps_to_the_port_and_keeps_only_a_plain_error_code() -> None:
    now = datetime.now(UTC)
    cases = [
        ({"status": "delivered", "error": "x"}, "delivered", None),
        ({"status": "failed", "permanent": False, "error": "absent"}, "temporary-failure", "absent"),
        ({"status": "failed", "error": "absent_subscriber"}, "temporary-failure", "absent_subscriber"),
        ({"status": "failed", "permanent": True, "error": "number +84912345678 unknown"}, "permanent-failure", None),
    ]  # fmt: skip
    for fields, status, detail in cases:
        body = json.dumps({"id": "r-9", "client_ref": "m-9", "at": "2026-12-07T17:00:00+07:00"} | fields).encode()
        receipt = parse_receipt("b", signed(body, SECRETS["b"]), body, [SECRETS["b"]], now)
        assert receipt == Receipt(provider="b", reference="r-9", status=status,  # type: ignore[arg-type]
                                  at=datetime(2026, 12, 7, 10, tzinfo=UTC), detail=detail)  # fmt: skip


# --- the sandbox itself ----------------------------------------------------------------------


async def test_the_sandbox_keeps_a_bounded_number_of_messages_and_behaviours() -> None:
    app = create_app(sandbox_settings("", max_kept=3, max_behaviours=2, delivery_delay_seconds=0))
    with serve(app) as url:
        provider = HttpSmsProvider(config(url, "a"))
        try:
            sent = [await provider.send(sms(f"+8491200002{i}", f"Tin {i}")) for i in range(5)]
        finally:
            await provider.aclose()
        assert [m["id"] for m in listed(url)] == [h.reference for h in reversed(sent[2:])]
        assert len(app.state.messaging.taken) == 3
        assert [m["text"] for m in listed(url, limit="2")] == ["Tin 4", "Tin 3"]

        for number in ("84912000031", "84912000032"):
            command(url, "a", number, "temporary")
        too_many = httpx.post(
            f"{url}/api/behaviour", json={"provider": "a", "to": "84912000033", "outcome": "temporary"}
        )
        assert too_many.status_code == 409
        command(url, "a", "84912000031", "permanent", times=5)  # replacing one is still allowed
        assert httpx.delete(f"{url}/api/behaviour").json() == {"forgotten": 2}


def test_the_sandbox_lists_by_number_and_provider_newest_first(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    body = {"from": "DVCQG", "to": "84912000040", "text": "Xin chao", "unicode": False}
    for i, provider in enumerate(["a", "b", "a"]):
        assert signed_post(url, body | {"client_ref": f"r-{i}"}, provider).status_code == 200
    assert signed_post(url, body | {"to": "84912000041", "client_ref": "other"}).status_code == 200
    assert [m["client_ref"] for m in listed(url, to="+84912000040")] == ["r-2", "r-1", "r-0"]
    assert [m["client_ref"] for m in listed(url, to="84912000040", provider="a")] == ["r-2", "r-0"]
    assert len(listed(url)) == 4
    assert httpx.delete(f"{url}/api/messages").json() == {"sms": 4, "push": 0}
    assert listed(url) == []


def test_the_sandbox_page_escapes_what_it_shows(sandbox: tuple[FastAPI, str]) -> None:
    _, url = sandbox
    body = {"from": "DVCQG", "to": "84912000050", "text": "<script>alert(1)</script> & Co", "unicode": False,
            "client_ref": "<b>ref</b>"}  # fmt: skip
    assert signed_post(url, body).status_code == 200
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page.text
    assert "<script>" not in page.text


def test_the_sandbox_refuses_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "production")
    with pytest.raises(RuntimeError, match="development only"):
        create_app(MessagingSettings())
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "development")
    assert create_app(MessagingSettings()).title.startswith("Sandbox messaging")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The portal's logging as in production (JSON, masked), written here for the test."""
    configure_logging("notification", "DEBUG", json=True)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous or sys.stderr)


def readable(output: io.StringIO) -> str:
    """What was written, JSON lines decoded (their non-ASCII characters are escaped)."""
    lines = []
    for line in output.getvalue().splitlines():
        try:
            lines.append(json.dumps(json.loads(line), ensure_ascii=False))
        except ValueError:
            lines.append(line)
    return "\n".join(lines)


# --- what is logged --------------------------------------------------------------------------


async def test_no_number_text_key_or_secret_in_logs_or_reasons(
    scripted: tuple[Scripted, HttpSmsProvider], log_output: io.StringIO
) -> None:
    server, provider = scripted
    number, text = "+84987654321", "Mã hồ sơ bí mật 42"
    server.answers.extend([
        answer(400, {"error": f"bad number {number}"}), answer(503, {"error": text}), answer(500, {"error": text}),
        answer(200, {"id": number, "parts": 1, "status": "accepted"}),
    ])  # fmt: skip
    reasons = []
    for _ in range(4):
        with pytest.raises((PermanentFailure, TemporaryFailure, TechnicalFailure)) as failed:
            await provider.send(sms(number, text))
        reasons.append(failed.value.reason)
    server.delay = 1.0
    server.answers.append(answer(200, {}))
    with pytest.raises(TechnicalFailure) as failed:
        await provider.send(sms(number, text))
    reasons.append(failed.value.reason)

    logged = readable(log_output)
    assert "sms refused" in logged and "sms provider busy" in logged and "sms not handed" in logged
    for secret in (number, number[1:], number[-9:], text, "Ma ho so bi mat", "key-1", "sign-1"):
        assert secret not in logged, secret
        assert all(secret not in reason for reason in reasons), secret
