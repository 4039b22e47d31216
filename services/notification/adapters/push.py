"""Push notifications to mobile and web devices on the shape of Firebase Cloud Messaging's HTTP
v1 API (the sandbox provider ``deploy/sandbox/messaging.py`` serves the same under ``/push/``).

- **Send**: ``POST {base}/v1/projects/{project}/messages:send`` with ``{"message": {"token",
  "notification": {"title", "body"}, "data"}}`` and ``Authorization: Bearer <access token>``;
  ``{"name": "projects/…/messages/…"}`` is :class:`Handed` as delivered: FCM sends no
  receipts, so its acceptance is the last status the portal can know (a message left "sending"
  would wait for a receipt that never comes).
- **Failures** read from FCM's error body (``error.status`` and the ``FcmError`` detail's
  ``errorCode``): a token FCM no longer knows (``UNREGISTERED``, or 404 ``NOT_FOUND``), a token
  it finds invalid (400 ``INVALID_ARGUMENT`` with a violation on ``message.token``) or one of
  another sender (``SENDER_ID_MISMATCH``) is permanent, and the caller forgets the device;
  429 and 503 are temporary (``Retry-After`` kept as a hint); anything else technical, including
  a 404 without FCM's error body (a wrong project or URL must not make every device forgotten)
  and a 400 about the rest of the message (the portal's bug, not the device's), as is a
  notification over FCM's 4 KiB, refused before it leaves.
- **Access token**: a static one (the sandbox, tests), or one minted from a Google service
  account with the JWT bearer grant (RFC 7523): an RS256 assertion (``iss`` the account's
  ``client_email``, ``scope`` FCM's, ``aud`` its ``token_uri``, ``exp`` an hour on) POSTed to
  ``token_uri``, answered ``{"access_token", "expires_in", "token_type": "Bearer"}``. The token
  is kept until shortly before it expires (:data:`REFRESH_MARGIN_SECONDS`, a tenth of its life
  when shorter) and minted by one send at a time (concurrent sends wait for it, then share it).
  A 401 drops it and the send tries once more with a new one; a token endpoint that fails,
  times out or answers outside the contract makes the send a technical failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from services.kit.jose import sign_pem
from services.kit.logging import get_logger

from ..domain.delivery import Handed, PermanentFailure, Push, TechnicalFailure, TemporaryFailure
from .sms import HttpProvider, Unreachable, busy_reason, check_limits, code_of, json_object, retry_after_seconds

log = get_logger(__name__)

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# FCM's limit on a message's payload (notification and data together).
MAX_PAYLOAD_BYTES = 4096
MAX_NAME_LENGTH = 512
# The JWT bearer grant (RFC 7523) for FCM's scope, and the life of the assertion (Google's most).
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
ASSERTION_SECONDS = 3600
# A minted token is replaced this long before it expires (a tenth of its life when that is shorter).
REFRESH_MARGIN_SECONDS = 300
# What a token answer may say: a token of at most this length, lasting at most this long.
MAX_ACCESS_TOKEN_LENGTH = 4096
MAX_TOKEN_SECONDS = 86_400
# After a mint fails, the sends waiting for it (and those for this long) fail alike, not one by one.
MINT_FAILURE_SECONDS = 5.0
# The most of a service account key file read.
MAX_SERVICE_ACCOUNT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A Google service account as its JSON key file has it: ``client_email``, the PEM
    ``private_key`` (never in repr), its ``private_key_id`` (the assertion's ``kid``), the
    ``token_uri`` and the ``project_id``."""

    client_email: str
    private_key: str = field(repr=False)
    token_uri: str
    private_key_id: str | None = None
    project_id: str | None = None

    def __post_init__(self) -> None:
        if not self.client_email or "@" not in self.client_email:
            raise ValueError("Service account: client_email is an e-mail address.")
        if not self.token_uri.startswith(("https://", "http://")):
            raise ValueError("Service account: token_uri is an http(s) URL.")
        try:  # a key that cannot sign is refused at start, not at the first send
            sign_pem({"check": True}, self.private_key.encode(), None)
        except Exception:  # whatever the library raises, say nothing of the key
            raise ValueError("Service account: private_key is not an RSA private key in PEM.") from None

    @classmethod
    def from_json(cls, raw: bytes) -> ServiceAccount:
        """The account from a key file's JSON (its other fields ignored)."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValueError("Service account: the key file is not JSON.") from None
        if not isinstance(data, dict) or data.get("type", "service_account") != "service_account":
            raise ValueError("Service account: the key file is not a service account's.")
        fields = ("client_email", "private_key", "token_uri")
        if not all(isinstance(data.get(f), str) and data[f] for f in fields):
            raise ValueError("Service account: the key file needs client_email, private_key and token_uri.")
        optional = {k: v for k in ("private_key_id", "project_id") if isinstance(v := data.get(k), str) and v}
        return cls(client_email=data["client_email"], private_key=data["private_key"], token_uri=data["token_uri"],
                   **optional)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HttpPushConfig:
    """One push provider: ``name``, the API's ``base_url`` (``https://fcm.googleapis.com``), the
    Firebase ``project_id``, either a static OAuth 2.0 ``access_token`` sent as bearer or the
    ``service_account`` tokens are minted from, ``timeout_seconds`` and ``max_in_flight`` (as
    for SMS)."""

    name: str
    base_url: str
    project_id: str
    access_token: str = field(default="", repr=False)
    timeout_seconds: float = 10.0
    max_in_flight: int = 8
    service_account: ServiceAccount | None = None

    def __post_init__(self) -> None:
        if bool(self.access_token) == (self.service_account is not None):
            raise ValueError(f"Push provider {self.name}: an access token or a service account is required, "
                             "not both.")  # fmt: skip
        if not self.project_id or "/" in self.project_id:
            raise ValueError(f"Push provider {self.name}: the project id is one path segment.")
        check_limits(f"Push provider {self.name}", self.timeout_seconds, self.max_in_flight)


def fcm_error(answer: dict[str, Any] | None) -> tuple[str | None, str | None, bool]:
    """FCM's ``error.status``, the ``FcmError`` detail's ``errorCode`` and whether a field
    violation names the token, from an error answer (``None``s when it has no such body)."""
    error = (answer or {}).get("error")
    if not isinstance(error, dict):
        return None, None, False
    status = code_of(error.get("status"))
    code, on_token = None, False
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == FCM_ERROR_TYPE:
            code = code_of(detail["errorCode"])
        violations = detail.get("fieldViolations") if detail.get("@type") == BAD_REQUEST_TYPE else None
        for violation in violations if isinstance(violations, list) else []:
            on_token |= isinstance(violation, dict) and violation.get("field") == "message.token"
    return status, code, on_token


class HttpPushProvider(HttpProvider):
    """:class:`~services.notification.domain.delivery.Provider` of push notifications over FCM's
    HTTP v1 API, one :class:`httpx.AsyncClient` for every send (the caller's or its own)."""

    def __init__(self, config: HttpPushConfig, client: httpx.AsyncClient | None = None) -> None:
        url = f"{config.base_url.rstrip('/')}/v1/projects/{config.project_id}/messages:send"
        super().__init__(config.name, url, config.timeout_seconds, config.max_in_flight, client)
        self.config = config
        # The minted token and when (monotonic) to mint the next; one mint at a time.
        self._minted: tuple[str, float] | None = None
        self._minting = asyncio.Lock()
        self._mint_failed: tuple[str, float] | None = None
        self.mints = 0

    def payload(self, message: Push) -> bytes:
        if not message.token:
            raise PermanentFailure("the device has no token")
        body = {"message": {"token": message.token, "notification": {"title": message.title, "body": message.body},
                            "data": dict(message.data)}}  # fmt: skip
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if len(encoded) - len(message.token.encode()) > MAX_PAYLOAD_BYTES:
            raise TechnicalFailure(f"the notification is over FCM's {MAX_PAYLOAD_BYTES} bytes")
        return encoded

    async def send(self, message: Push) -> Handed:
        body = self.payload(message)
        for attempt in (1, 2):
            token = await self._bearer(message)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            try:
                response, raw = await self.post(body, headers)
            except Unreachable as failed:
                raise self._technical(message, f"push service {failed.what}") from failed
            if response.status_code == 401 and self.config.service_account is not None and attempt == 1:
                # Revoked or expired early: mint again (unless another send did) and try once more.
                self._drop(token)
                log.info("push token refused; minting another", provider=self.name, message_id=message.message_id)
                continue
            return self._answer(message, response, raw)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _bearer(self, message: Push) -> str:
        """The access token to send with: the static one, or one minted from the service account
        (kept until shortly before it expires; concurrent sends wait for the one mint)."""
        if self.config.service_account is None:
            return self.config.access_token
        if (minted := self._minted) is not None and minted[1] > time.monotonic():
            return minted[0]
        async with self._minting:
            if (minted := self._minted) is not None and minted[1] > time.monotonic():
                return minted[0]
            if (failed := self._mint_failed) is not None and failed[1] > time.monotonic():
                raise self._technical(message, failed[0])
            try:
                token, seconds = await self._mint(message, self.config.service_account)
            except TechnicalFailure as failure:
                self._mint_failed = (failure.reason, time.monotonic() + MINT_FAILURE_SECONDS)
                raise
            self._mint_failed = None
            self._minted = (token, time.monotonic() + seconds - min(REFRESH_MARGIN_SECONDS, seconds / 10))
            return token

    def _drop(self, token: str) -> None:
        if self._minted is not None and self._minted[0] == token:
            self._minted = None

    async def _mint(self, message: Push, account: ServiceAccount) -> tuple[str, int]:
        """A new access token and its life in seconds, from the token endpoint (RFC 7523 §2.1)."""
        now = int(time.time())
        claims = {"iss": account.client_email, "scope": FCM_SCOPE, "aud": account.token_uri, "iat": now,
                  "exp": now + ASSERTION_SECONDS}  # fmt: skip
        assertion = sign_pem(claims, account.private_key.encode(), account.private_key_id)
        body = urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": assertion}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        self.mints += 1
        try:
            response, raw = await self.post(body, headers, url=account.token_uri)
        except Unreachable as failed:
            raise self._technical(message, f"push token endpoint {failed.what}") from failed
        answer = json_object(raw) or {}
        if response.status_code != 200:
            code = code_of(answer.get("error"))
            raise self._technical(message, f"push token endpoint answered HTTP {response.status_code}"
                                           f"{' ' + code if code else ''}")  # fmt: skip
        token, seconds, kind = answer.get("access_token"), answer.get("expires_in"), answer.get("token_type")
        if (
            not isinstance(token, str) or not 0 < len(token) <= MAX_ACCESS_TOKEN_LENGTH
            or not token.isascii() or not token.isprintable() or " " in token
            or not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 < seconds <= MAX_TOKEN_SECONDS
            or not isinstance(kind, str) or kind.lower() != "bearer"
        ):  # fmt: skip
            raise self._technical(message, "push token endpoint's answer is not in the contract")
        log.info("push token minted", provider=self.name, expires_in=seconds)
        return token, seconds

    def _answer(self, message: Push, response: httpx.Response, raw: bytes | None) -> Handed:
        status = response.status_code
        answer = json_object(raw)
        if 200 <= status < 300:
            name = (answer or {}).get("name")
            prefix = f"projects/{self.config.project_id}/messages/"
            if not isinstance(name, str) or not name.startswith(prefix) or not 0 < len(name) <= MAX_NAME_LENGTH:
                raise self._technical(message, "push service's answer is not in the contract")
            return Handed(provider=self.name, reference=name, delivered=True)
        error_status, code, on_token = fcm_error(answer)
        if code in ("UNREGISTERED", "SENDER_ID_MISMATCH") or (status == 404 and error_status == "NOT_FOUND"):
            self._forget(message, status, code or error_status)
            raise PermanentFailure(f"device token no longer valid ({code or error_status})")
        if status == 400 and (code == "INVALID_ARGUMENT" or error_status == "INVALID_ARGUMENT") and on_token:
            self._forget(message, status, "INVALID_ARGUMENT")
            raise PermanentFailure("device token invalid (INVALID_ARGUMENT)")
        if status in (429, 503):
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now().astimezone())
            log.info("push service busy", provider=self.name, message_id=message.message_id, status=status)
            raise TemporaryFailure(busy_reason("push service", status, wait))
        named = code or error_status
        raise self._technical(message, f"push service answered HTTP {status}{' ' + named if named else ''}")

    def _forget(self, message: Push, status: int, code: str | None) -> None:
        log.info("push token refused", provider=self.name, message_id=message.message_id, status=status, code=code)

    def _technical(self, message: Push, reason: str) -> TechnicalFailure:
        log.warning("push not handed", provider=self.name, message_id=message.message_id, reason=reason)
        return TechnicalFailure(reason)
