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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from services.kit.logging import get_logger

from ..domain.delivery import Handed, PermanentFailure, Push, TechnicalFailure, TemporaryFailure
from .sms import HttpProvider, Unreachable, busy_reason, check_limits, code_of, json_object, retry_after_seconds

log = get_logger(__name__)

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# FCM's limit on a message's payload (notification and data together).
MAX_PAYLOAD_BYTES = 4096
MAX_NAME_LENGTH = 512


@dataclass(frozen=True, slots=True)
class HttpPushConfig:
    """One push provider: ``name``, the API's ``base_url`` (``https://fcm.googleapis.com``), the
    Firebase ``project_id``, the OAuth 2.0 ``access_token`` sent as bearer, ``timeout_seconds``
    and ``max_in_flight`` (as for SMS)."""

    name: str
    base_url: str
    project_id: str
    access_token: str = field(repr=False)
    timeout_seconds: float = 10.0
    max_in_flight: int = 8

    def __post_init__(self) -> None:
        if not self.access_token:
            raise ValueError(f"Push provider {self.name}: the access token is required.")
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
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.config.access_token}"}
        try:
            response, raw = await self.post(body, headers)
        except Unreachable as failed:
            raise self._technical(message, f"push service {failed.what}") from failed
        return self._answer(message, response, raw)

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
