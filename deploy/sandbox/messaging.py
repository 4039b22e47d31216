"""The sandbox messaging providers: a development-only stand-in for two brand-name SMS providers
and a push service, so the notification service's real adapters run locally against real HTTP.

- **Two SMS providers**, under ``/a/`` and ``/b/`` (so failover from one to the other can be
  shown), each serving ``POST /{a|b}/v1/messages`` as ``services/notification/adapters/sms.py``
  describes: the API key (``X-API-Key``) and the body's signature (``X-Signature``, the kit's
  signed-webhook scheme under the provider's secret) are checked as a real provider would
  (401), then the request (400: ``invalid_number`` for a number that is not a Vietnamese mobile
  ``84…``, ``invalid_sender``, ``empty_text``, ``text_not_gsm7``, ``unicode_refused`` on a
  GSM-7-only route, ``text_too_long``). A repeated ``client_ref`` is answered with the message
  already taken. An accepted SMS is delivered ``delivery_delay_seconds`` later and a signed
  receipt POSTed to ``receipt_url`` (``{provider}`` there becomes ``a`` or ``b``), again while
  the portal answers no 2xx, up to ``receipt_attempts`` posts. Receipts settled together go
  together, as ``{"receipts": [...]}``: at most ``receipt_batch`` a post, gathered for at most
  ``receipt_gather_seconds``.
- **Bulk sends**: ``POST /{a|b}/v1/messages/batch`` with ``{"messages": [...]}`` (1 to 100, each
  as above, at most 256 KiB in all), checked and signed alike, answered ``{"results": [...]}`` in
  order: ``{"client_ref", "status": "accepted", "id", "parts"}``, or ``{"client_ref", "status":
  "refused", "error", "temporary"}`` where a single send would have answered 400 or 503.
- **A push service** on FCM HTTP v1's shape: ``POST /push/v1/projects/{project}/messages:send``
  with the bearer token; FCM sends no receipts, so every failure is in the send's answer. The
  bearer is the static development token, or one its token endpoint issued.
- **A push token endpoint** as Google's: ``POST /push/token`` with the JWT bearer grant (RFC
  7523, ``grant_type`` and ``assertion`` form-encoded). The assertion must be signed (RS256) by
  the development service account's key, ``iss`` its ``client_email``, ``aud`` this endpoint,
  ``scope`` FCM's, ``exp`` not past and at most an hour after ``iat``; answered
  ``{"access_token", "expires_in", "token_type": "Bearer"}`` (``push_token_seconds``), else 400
  ``invalid_grant`` / ``invalid_scope`` / ``unsupported_grant_type`` / ``invalid_request``. The
  account's key is made at start, or read from ``push_service_account_file`` when that file
  exists (written there, as Google's key file, when it does not).
- **Failures on command**: ``POST /api/behaviour`` ``{"provider": "a"|"b"|"push", "to": number
  or token, "outcome", "times"}`` makes the next ``times`` sends to that recipient go so:

  ============================  =========================================  =======================
  outcome                       SMS                                        push
  ============================  =========================================  =======================
  ``refuse-temporary``          the send answers 503 (``Retry-After``)     503 ``UNAVAILABLE``
  ``refuse-permanent``          the send answers 400 ``invalid_number``    400 ``INVALID_ARGUMENT``
  ``temporary``                 accepted, then a failed receipt            429 ``QUOTA_EXCEEDED``
  ``permanent``                 accepted, then a permanently failed one    404 ``UNREGISTERED``
  ============================  =========================================  =======================

  The same without a call, on every send (``DELETE /api/behaviour`` forgets the commanded ones):

  ==================  ====================================================
  ``+84900000400``    refuse-permanent on both SMS providers
  ``+84900000503``    refuse-temporary on both
  ``+84900000410``    permanent on both (accepted, then failed for good)
  ``+84900000408``    temporary on both (accepted, then failed for now)
  ``+84900000513``    refuse-temporary on ``a`` only (``b`` takes over)
  ``+84900000514``    permanent on ``a`` only
  push token          ``sandbox-unregistered`` permanent, ``sandbox-invalid``
                      refuse-permanent, ``sandbox-unavailable`` refuse-temporary
  ==================  ====================================================

- **Inspection**: ``GET /api/sms?to=&provider=`` and ``GET /api/push?token=`` (newest first; the
  last ``max_kept`` of each kind are kept), ``DELETE /api/messages``, and a page at ``/``.

It refuses to start in production and logs no number, token or text. Command:
``python -m deploy.sandbox.messaging``.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import itertools
import json
import os
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit import jose, webhooks
from services.notification.adapters.push import FCM_SCOPE, JWT_BEARER_GRANT
from services.notification.domain import sms as rules

SmsProvider = Literal["a", "b"]
Outcome = Literal["temporary", "permanent", "refuse-temporary", "refuse-permanent"]

MAX_REQUEST_BYTES = 16 * 1024
MAX_BATCH = 100
MAX_BATCH_BYTES = 256 * 1024
MAX_CLIENT_REF = 100
MAX_TOKEN = 4096
MAX_RECEIPT_POSTS_AT_ONCE = 64
# The most push access tokens live at once, and the longest an assertion may live (Google's rule).
MAX_PUSH_TOKENS = 10_000
MAX_ASSERTION_SECONDS = 3600
DEVELOPMENT_KEY_ID = "sandbox-push-development"
VIETNAMESE_MOBILE = re.compile(r"84[35789][0-9]{8}")

MAGIC_SMS: dict[str, tuple[tuple[SmsProvider, ...], Outcome]] = {
    "84900000400": (("a", "b"), "refuse-permanent"),
    "84900000503": (("a", "b"), "refuse-temporary"),
    "84900000410": (("a", "b"), "permanent"),
    "84900000408": (("a", "b"), "temporary"),
    "84900000513": (("a",), "refuse-temporary"),
    "84900000514": (("a",), "permanent"),
}
MAGIC_PUSH: dict[str, Outcome] = {
    "sandbox-unregistered": "permanent",
    "sandbox-invalid": "refuse-permanent",
    "sandbox-unavailable": "refuse-temporary",
}


class MessagingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_MESSAGING_", extra="ignore")

    environment: str = Field(default="development", validation_alias="PORTAL_ENVIRONMENT")
    port: int = 8030
    # What each SMS provider issued to the portal: an API key and the secret both sides sign with.
    a_api_key: str = "development-sms-a-key"
    a_secret: str = "development-sms-a-secret"  # noqa: S105 - development only
    b_api_key: str = "development-sms-b-key"
    b_secret: str = "development-sms-b-secret"  # noqa: S105 - development only
    # Whether each route takes UCS-2 (many brand-name routes take GSM-7 only).
    a_unicode: bool = True
    b_unicode: bool = True
    push_project: str = "portal-development"
    push_access_token: str = "development-push-token"  # noqa: S105 - development only
    # The development service account: its key file (read when present, written when not), its
    # e-mail, the token endpoint it names (empty: this sandbox's on loopback), and how long the
    # access tokens it is issued last.
    push_service_account_file: Path | None = None
    push_client_email: str = "portal-push@portal-development.iam.sandbox.invalid"
    push_token_uri: str = ""
    push_token_seconds: int = Field(default=3600, ge=1, le=3600)
    # Where receipts go; "{provider}" becomes "a" or "b". Empty: no receipts are posted.
    receipt_url: str = "http://127.0.0.1:8000/api/v1/notification/receipts/sms/{provider}"
    delivery_delay_seconds: float = Field(default=2.0, ge=0, le=600)
    receipt_attempts: int = Field(default=5, ge=1, le=20)
    receipt_retry_seconds: float = Field(default=1.0, ge=0, le=300)
    receipt_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Receipts settled together are posted together: at most this many a post, gathered this long.
    receipt_batch: int = Field(default=100, ge=1, le=500)
    receipt_gather_seconds: float = Field(default=0.05, ge=0, le=10)
    retry_after_seconds: int = Field(default=1, ge=0, le=3600)
    # Bounded memory: the newest this many SMS and push messages, this many commanded behaviours.
    max_kept: int = Field(default=1000, ge=1, le=100_000)
    max_behaviours: int = Field(default=1000, ge=1, le=100_000)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class SmsRecord:
    provider: SmsProvider
    id: str
    client_ref: str
    sender: str
    to: str
    text: str
    unicode: bool
    parts: int
    status: Literal["refused", "accepted", "delivered", "failed"]
    outcome: Outcome | None
    received_at: str = field(default_factory=now_iso)
    settled_at: str | None = None
    error: str | None = None
    receipt_replies: list[int | str] = field(default_factory=list)


@dataclass
class PushRecord:
    id: str
    name: str
    token: str
    title: str
    body: str
    data: dict[str, str]
    status: Literal["refused", "accepted", "delivered"]
    outcome: Outcome | None
    received_at: str = field(default_factory=now_iso)
    settled_at: str | None = None


@dataclass
class Behaviour:
    outcome: Outcome
    remaining: int


class BehaviourIn(BaseModel):
    provider: Literal["a", "b", "push"]
    to: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN)]
    outcome: Outcome
    times: Annotated[int, Field(ge=1, le=1000)] = 1


class SmsIn(BaseModel):
    sender: Annotated[str, Field(alias="from", max_length=64)]
    to: Annotated[str, Field(max_length=32)]
    text: Annotated[str, Field(max_length=4000)]
    unicode: bool
    client_ref: Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_REF)]


class SmsBatchIn(BaseModel):
    messages: Annotated[list[SmsIn], Field(min_length=1, max_length=MAX_BATCH)]


class Notification(BaseModel):
    title: Annotated[str, Field(max_length=1000)] = ""
    body: Annotated[str, Field(max_length=4000)] = ""


class PushMessage(BaseModel):
    token: Annotated[str, Field(max_length=MAX_TOKEN)] = ""
    notification: Notification = Field(default_factory=Notification)
    data: dict[str, str] = Field(default_factory=dict)


class PushIn(BaseModel):
    message: PushMessage


def number_of(to: str) -> str:
    """A number as the providers write it: ``84…``, without the plus."""
    return to.strip().removeprefix("+")


class Messaging:
    """The providers' memory: messages kept for inspection (bounded), SMS taken by ``client_ref``
    (so a repeat is answered with the first), and the commanded behaviours."""

    def __init__(self, settings: MessagingSettings) -> None:
        self.settings = settings
        self.sms: deque[SmsRecord] = deque(maxlen=settings.max_kept)
        self.push: deque[PushRecord] = deque(maxlen=settings.max_kept)
        self.taken: OrderedDict[tuple[str, str], SmsRecord] = OrderedDict()
        self.behaviours: dict[tuple[str, str], Behaviour] = {}
        self.numbers = itertools.count(1)
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None
        self.receipt_slots = asyncio.Semaphore(MAX_RECEIPT_POSTS_AT_ONCE)
        # Settled SMS whose receipts wait to be posted, by provider (with the secret they are signed with).
        self.settled: dict[str, list[SmsRecord]] = {}
        self.secrets: dict[str, str] = {}
        self.gathering: set[str] = set()
        # Push access tokens issued, with when (monotonic) each expires; how many, and refused.
        self.push_tokens: OrderedDict[str, float] = OrderedDict()
        self.tokens_issued = 0
        self.tokens_refused = 0

    def issue_push_token(self) -> str:
        now = time.monotonic()
        # All last as long, so the oldest expires first: drop the expired, and the oldest past the bound.
        while self.push_tokens and (
            len(self.push_tokens) >= MAX_PUSH_TOKENS or next(iter(self.push_tokens.values())) <= now
        ):
            self.push_tokens.popitem(last=False)
        token = f"sandbox-push-{secrets.token_urlsafe(24)}"
        self.push_tokens[token] = now + self.settings.push_token_seconds
        self.tokens_issued += 1
        return token

    def push_token_valid(self, token: str) -> bool:
        if constant_time_equal(token, self.settings.push_access_token):
            return True
        expires = self.push_tokens.get(token)
        return expires is not None and expires > time.monotonic()

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.numbers):08d}-{int(time.time() * 1000) % 10**6:06d}"

    def command(self, body: BehaviourIn) -> bool:
        key = (body.provider, number_of(body.to) if body.provider != "push" else body.to)
        if key not in self.behaviours and len(self.behaviours) >= self.settings.max_behaviours:
            return False
        self.behaviours[key] = Behaviour(body.outcome, body.times)
        return True

    def outcome_for(self, provider: str, to: str) -> Outcome | None:
        """What happens to this send: a commanded behaviour first (one of its ``times`` used),
        then the magic numbers and tokens."""
        behaviour = self.behaviours.get((provider, to))
        if behaviour is not None:
            behaviour.remaining -= 1
            if behaviour.remaining <= 0:
                del self.behaviours[provider, to]
            return behaviour.outcome
        if provider == "push":
            return MAGIC_PUSH.get(to)
        providers, outcome = MAGIC_SMS.get(to, ((), None))
        return outcome if provider in providers else None

    def take(self, record: SmsRecord) -> None:
        self.sms.append(record)
        if record.status == "refused":
            return
        self.taken[record.provider, record.client_ref] = record
        while len(self.taken) > self.settings.max_kept:
            self.taken.popitem(last=False)

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def deliver_sms(self, record: SmsRecord, secret: str) -> None:
        """Settle ``record`` after the delivery delay, then queue its receipt."""
        self.secrets[record.provider] = secret
        asyncio.get_running_loop().call_later(self.settings.delivery_delay_seconds, self.settle, record)

    def settle(self, record: SmsRecord) -> None:
        record.settled_at = now_iso()
        if record.outcome in ("temporary", "permanent"):
            record.status = "failed"
            record.error = "absent_subscriber" if record.outcome == "temporary" else "unknown_subscriber"
        else:
            record.status = "delivered"
        if not self.settings.receipt_url:
            return
        waiting = self.settled.setdefault(record.provider, [])
        waiting.append(record)
        if len(waiting) >= self.settings.receipt_batch:
            self.flush(record.provider)
        elif record.provider not in self.gathering:
            self.gathering.add(record.provider)
            asyncio.get_running_loop().call_later(self.settings.receipt_gather_seconds, self.flush, record.provider)

    def flush(self, provider: str) -> None:
        """Post the receipts gathered for ``provider``, a batch at a time."""
        self.gathering.discard(provider)
        waiting = self.settled.pop(provider, [])
        size = self.settings.receipt_batch
        for n in range(0, len(waiting), size):
            self.later(self.post_receipts(provider, waiting[n : n + size]))

    async def post_receipts(self, provider: str, records: list[SmsRecord]) -> None:
        """The signed receipts, posted again while the portal answers no 2xx (bounded)."""
        receipts = [{
            "id": r.id, "client_ref": r.client_ref, "status": "delivered" if r.status == "delivered" else "failed",
            "permanent": r.outcome == "permanent", "at": r.settled_at, "error": r.error,
        } for r in records]  # fmt: skip
        body = json.dumps({"receipts": receipts}).encode()
        url = self.settings.receipt_url.replace("{provider}", provider)
        if self.client is None:
            raise RuntimeError("the sandbox posts receipts only while it serves")
        for attempt in range(self.settings.receipt_attempts):
            if attempt:
                await asyncio.sleep(self.settings.receipt_retry_seconds)
            headers = {"Content-Type": "application/json",
                       webhooks.HEADER: webhooks.sign(body, self.secrets[provider], int(time.time()))}  # fmt: skip
            try:
                async with self.receipt_slots:
                    answer = await self.client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reply: int | str = type(exc).__name__
            else:
                reply = answer.status_code
            for record in records:
                record.receipt_replies.append(reply)
            if isinstance(reply, int) and 200 <= reply < 300:
                return

    async def deliver_push(self, record: PushRecord) -> None:
        await asyncio.sleep(self.settings.delivery_delay_seconds)
        record.status, record.settled_at = "delivered", now_iso()


def sms_error(status: int, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status, headers=headers)


def fcm_error(status: int, grpc_status: str, message: str, *, code: str | None = None,
              token_field: bool = False, headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    """An error answer as FCM writes one."""
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code})
    if token_field:
        violation = {"field": "message.token", "description": "Invalid registration token"}
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]})
    error = {"code": status, "message": message, "status": grpc_status, "details": details}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def constant_time_equal(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


def development_service_account(settings: MessagingSettings) -> dict[str, str]:
    """The development service account's key file (as Google issues one): read from
    ``push_service_account_file`` when it exists, else made now (and written there, readable by
    its owner only, when set)."""
    path = settings.push_service_account_file
    if path is not None and path.exists():
        account: dict[str, str] = json.loads(path.read_bytes())
        return account
    pem, _ = jose.generate_rsa(2048, DEVELOPMENT_KEY_ID)
    account = {
        "type": "service_account", "project_id": settings.push_project, "private_key_id": DEVELOPMENT_KEY_ID,
        "private_key": pem.decode(), "client_email": settings.push_client_email,
        "token_uri": token_uri(settings),
    }  # fmt: skip
    if path is not None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(account, file, indent=2)
    return account


def token_uri(settings: MessagingSettings) -> str:
    return settings.push_token_uri or f"http://127.0.0.1:{settings.port}/push/token"


def oauth_error(code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=400)


def page(messaging: Messaging) -> str:
    e = html.escape
    sms_rows = "".join(
        f"<tr><td>{e(r.received_at)}</td><td>{e(r.provider)}</td><td>{e(r.sender)}</td><td>{e(r.to)}</td>"
        f"<td>{e(r.text)}</td><td>{r.parts}</td><td>{e(r.status)}</td></tr>"
        for r in itertools.islice(reversed(messaging.sms), 100)
    )
    push_rows = "".join(
        f"<tr><td>{e(r.received_at)}</td><td>{e(r.token[:24])}…</td><td>{e(r.title)}</td><td>{e(r.body)}</td>"
        f"<td>{e(r.status)}</td></tr>"
        for r in itertools.islice(reversed(messaging.push), 100)
    )
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Tin nhắn thử nghiệm</title></head>
<body><h1>Tin nhắn thử nghiệm (sandbox)</h1>
<h2>SMS</h2><table><tr><th>Lúc</th><th>Nhà cung cấp</th><th>Tên</th><th>Số</th><th>Nội dung</th><th>Phần</th>
<th>Trạng thái</th></tr>{sms_rows}</table>
<h2>Push</h2><table><tr><th>Lúc</th><th>Thiết bị</th><th>Tiêu đề</th><th>Nội dung</th><th>Trạng thái</th></tr>
{push_rows}</table></body></html>"""


def create_app(settings: MessagingSettings | None = None) -> FastAPI:
    settings = settings or MessagingSettings()
    if settings.environment == "production":
        raise RuntimeError("the sandbox messaging providers are for development only")
    messaging = Messaging(settings)
    account = development_service_account(settings)
    account_key = jose.key_from_jwk(jose.public_jwk(account["private_key"].encode(), DEVELOPMENT_KEY_ID))
    credentials = {"a": (settings.a_api_key, settings.a_secret, settings.a_unicode),
                   "b": (settings.b_api_key, settings.b_secret, settings.b_unicode)}  # fmt: skip

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        messaging.client = httpx.AsyncClient(timeout=settings.receipt_timeout_seconds, follow_redirects=False)
        try:
            yield
        finally:
            for task in list(messaging.tasks):
                task.cancel()
            await asyncio.gather(*messaging.tasks, return_exceptions=True)
            await messaging.client.aclose()

    app = FastAPI(title="Sandbox messaging providers (development only)", lifespan=lifespan)
    app.state.messaging = messaging
    app.state.service_account = account

    def authorized(provider: SmsProvider, request: Request, raw: bytes, limit: int) -> JSONResponse | None:
        api_key, secret, _ = credentials[provider]
        if not constant_time_equal(request.headers.get("x-api-key"), api_key):
            return sms_error(401, "unauthorized")
        if len(raw) > limit:
            return sms_error(413, "request_too_large")
        try:
            webhooks.verify(request.headers.get(webhooks.HEADER), raw, [secret], now=int(time.time()))
        except webhooks.SignatureRefused:
            return sms_error(401, "bad_signature")
        return None

    def accept(provider: SmsProvider, body: SmsIn) -> dict[str, Any]:
        """One SMS taken or refused: ``{"id", "parts", "status": "accepted"}`` or ``{"status":
        "refused", "error", "temporary"}``."""
        _, secret, takes_unicode = credentials[provider]
        refusal = check_sms(body, takes_unicode)
        if refusal:
            return {"status": "refused", "error": refusal, "temporary": False}
        if (taken := messaging.taken.get((provider, body.client_ref))) is not None:
            return {"id": taken.id, "parts": taken.parts, "status": "accepted"}
        outcome = messaging.outcome_for(provider, body.to)
        counted = rules.measure(body.text, unicode=body.unicode)
        record = SmsRecord(provider, messaging.next_id(provider), body.client_ref, body.sender, body.to, body.text,
                           body.unicode, counted.parts, "accepted", outcome)  # fmt: skip
        if outcome in ("refuse-temporary", "refuse-permanent"):
            record.status = "refused"
            messaging.take(record)
            temporary = outcome == "refuse-temporary"
            return {"status": "refused", "error": "unavailable" if temporary else "invalid_number",
                    "temporary": temporary}  # fmt: skip
        messaging.take(record)
        messaging.deliver_sms(record, secret)
        return {"id": record.id, "parts": record.parts, "status": "accepted"}

    @app.post("/{provider}/v1/messages")
    async def send_sms(provider: SmsProvider, request: Request) -> JSONResponse:
        raw = await request.body()
        if (refused := authorized(provider, request, raw, MAX_REQUEST_BYTES)) is not None:
            return refused
        try:
            body = SmsIn.model_validate_json(raw)
        except ValueError:
            return sms_error(422, "invalid_request")
        answer = accept(provider, body)
        if answer["status"] == "refused":
            if answer["temporary"]:
                return sms_error(503, answer["error"], {"Retry-After": str(settings.retry_after_seconds)})
            return sms_error(400, answer["error"])
        return JSONResponse(answer)

    @app.post("/{provider}/v1/messages/batch")
    async def send_sms_batch(provider: SmsProvider, request: Request) -> JSONResponse:
        raw = await request.body()
        if (refused := authorized(provider, request, raw, MAX_BATCH_BYTES)) is not None:
            return refused
        try:
            batch = SmsBatchIn.model_validate_json(raw)
        except ValueError:
            return sms_error(422, "invalid_request")
        return JSONResponse({"results": [{"client_ref": m.client_ref, **accept(provider, m)} for m in batch.messages]})

    @app.post("/push/token")
    async def push_token(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_REQUEST_BYTES:
            return oauth_error("invalid_request", "The request is too large.")
        form = parse_qs(raw.decode("utf-8", "replace"))
        if form.get("grant_type") != [JWT_BEARER_GRANT]:
            return oauth_error("unsupported_grant_type", "Only the JWT bearer grant is served.")
        assertion = form.get("assertion", [])
        if len(assertion) != 1:
            return oauth_error("invalid_request", "One assertion is required.")
        audiences = tuple(dict.fromkeys((account["token_uri"], str(request.url))))
        try:
            claims = jose.decode_assertion(assertion[0], account_key, client_id=account["client_email"],
                                           audiences=audiences, leeway=30)  # fmt: skip
        except jose.TokenInvalid:
            messaging.tokens_refused += 1
            return oauth_error("invalid_grant", "Invalid JWT: bad signature, issuer, audience or expiry.")
        iat = claims.get("iat")
        if not isinstance(iat, int) or claims["exp"] - iat > MAX_ASSERTION_SECONDS:
            messaging.tokens_refused += 1
            return oauth_error("invalid_grant", "Invalid JWT: iat missing or the token lives over an hour.")
        if FCM_SCOPE not in str(claims.get("scope", "")).split():
            messaging.tokens_refused += 1
            return oauth_error("invalid_scope", "The scope is not FCM's.")
        token = messaging.issue_push_token()
        return JSONResponse({"access_token": token, "expires_in": settings.push_token_seconds,
                             "token_type": "Bearer"})  # fmt: skip

    @app.post("/push/v1/projects/{project}/messages:send")
    async def send_push(project: str, request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or not messaging.push_token_valid(
            authorization.removeprefix("Bearer ")
        ):
            return fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                             code="THIRD_PARTY_AUTH_ERROR")  # fmt: skip
        if project != settings.push_project:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        raw = await request.body()
        if len(raw) > MAX_REQUEST_BYTES:
            return fcm_error(400, "INVALID_ARGUMENT", "Request is too large.", code="INVALID_ARGUMENT")
        try:
            message = PushIn.model_validate_json(raw).message
        except ValueError:
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", code="INVALID_ARGUMENT")
        if not message.token:
            return fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                             code="INVALID_ARGUMENT", token_field=True)  # fmt: skip
        outcome = messaging.outcome_for("push", message.token)
        number = messaging.next_id("push")
        record = PushRecord(number, f"projects/{project}/messages/{number}", message.token,
                            message.notification.title, message.notification.body, dict(message.data),
                            "accepted", outcome)  # fmt: skip
        if outcome is None:
            messaging.push.append(record)
            messaging.later(messaging.deliver_push(record))
            return JSONResponse({"name": record.name})
        record.status = "refused"
        messaging.push.append(record)
        retry = {"Retry-After": str(settings.retry_after_seconds)}
        if outcome == "refuse-temporary":
            return fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", code="UNAVAILABLE",
                             headers=retry)  # fmt: skip
        if outcome == "temporary":
            return fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", code="QUOTA_EXCEEDED", headers=retry)
        if outcome == "permanent":
            return fcm_error(404, "NOT_FOUND", "Requested entity was not found.", code="UNREGISTERED")
        return fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                         code="INVALID_ARGUMENT", token_field=True)  # fmt: skip

    @app.post("/api/behaviour")
    async def behaviour(body: BehaviourIn) -> JSONResponse:
        if not messaging.command(body):
            return JSONResponse({"error": f"at most {settings.max_behaviours} behaviours at once"}, status_code=409)
        return JSONResponse({"provider": body.provider, "outcome": body.outcome, "times": body.times})

    @app.delete("/api/behaviour")
    async def forget_behaviours() -> dict[str, int]:
        count = len(messaging.behaviours)
        messaging.behaviours.clear()
        return {"forgotten": count}

    @app.get("/api/sms")
    async def list_sms(
        to: str | None = None, provider: SmsProvider | None = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    ) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
        number = number_of(to) if to else None
        found = (r for r in reversed(messaging.sms)
                 if (number is None or r.to == number) and (provider is None or r.provider == provider))  # fmt: skip
        return {"messages": [asdict(r) for r in itertools.islice(found, limit)]}

    @app.get("/api/push")
    async def list_push(
        token: str | None = None, limit: Annotated[int, Query(ge=1, le=100_000)] = 100
    ) -> dict[str, list[dict[str, Any]]]:
        found = (r for r in reversed(messaging.push) if token is None or r.token == token)
        return {"messages": [asdict(r) for r in itertools.islice(found, limit)]}

    @app.delete("/api/messages")
    async def forget_messages() -> dict[str, int]:
        counts = {"sms": len(messaging.sms), "push": len(messaging.push)}
        messaging.sms.clear()
        messaging.push.clear()
        messaging.taken.clear()
        return counts

    @app.get("/", response_class=HTMLResponse)
    async def home() -> HTMLResponse:
        return HTMLResponse(page(messaging))

    return app


def check_sms(body: SmsIn, takes_unicode: bool) -> str | None:
    """The error code a provider answers a request it refuses with, ``None`` when it is fine."""
    if not VIETNAMESE_MOBILE.fullmatch(body.to):
        return "invalid_number"
    try:
        rules.check_sender(body.sender)
    except rules.SmsTextError:
        return "invalid_sender"
    if not body.text:
        return "empty_text"
    if not body.unicode and not rules.is_gsm7(body.text):
        return "text_not_gsm7"
    if body.unicode and not takes_unicode:
        return "unicode_refused"
    if rules.measure(body.text, unicode=body.unicode).parts > rules.MAX_PARTS:
        return "text_too_long"
    return None


if __name__ == "__main__":
    from services.kit.http import serve_factory

    serve_factory("deploy.sandbox.messaging:create_app", host="127.0.0.1", port=MessagingSettings().port)
