"""Brand-name SMS through a provider's HTTP API, and the provider's signed delivery receipts.

The API is the one Vietnamese brand-name aggregators share in substance (the sandbox provider
``deploy/sandbox/messaging.py`` serves it under ``/a/`` and ``/b/``):

- **Send**: ``POST {base}/v1/messages`` with ``{"from", "to", "text", "unicode", "client_ref"}``:
  the brand name, the number without its plus (``84…``), the text (folded to plain Latin when
  the route takes GSM-7 only), whether it goes as UCS-2, and the message's id (the provider
  answers a repeated ``client_ref`` with the message it already took, so a send retried after a
  timeout does not send twice). The raw body is signed as :mod:`services.kit.webhooks` says
  (``X-Signature``) and the API key goes in ``X-API-Key``. ``{"id", "parts", "status":
  "accepted"}`` is :class:`Handed`.
- **Send in bulk**: ``POST {base}/v1/messages/batch`` with ``{"messages": [...]}`` (each as
  above, at most ``MAX_BATCH``), signed the same way, answered ``{"results": [...]}`` in the same
  order: each ``{"client_ref", "status": "accepted", "id", "parts"}`` or ``{"client_ref",
  "status": "refused", "error", "temporary"}``. One request carries what would be a hundred:
  the dispatcher sends a run's SMS this way (:meth:`HttpSmsProvider.send_many`).
- **Failures** as the delivery port names them: 400 and 422 (a number or text refused) are
  permanent; 429 and 503 temporary, the provider's ``Retry-After`` kept as a hint in the reason;
  any other status, a timeout, no connection or an answer outside the contract technical. The
  text is checked before it leaves (empty, or more than ``MAX_PARTS`` parts: permanent).
- **Receipts**: the provider POSTs ``{"id", "client_ref", "status": "delivered"|"failed",
  "permanent", "at", "error"}``, or many as ``{"receipts": [...]}`` (at most ``MAX_RECEIPTS``),
  signed with the same scheme; :func:`parse_receipts` believes them only once the signature
  matches a secret in force.

Reasons and exception texts name statuses and rules, never a number, a text, a key or a body.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.kit import webhooks
from services.kit.logging import get_logger

from ..domain import sms as rules
from ..domain.delivery import (
    DeliveryFailure,
    Handed,
    PermanentFailure,
    Receipt,
    ReceiptStatus,
    Sms,
    TechnicalFailure,
    TemporaryFailure,
)

log = get_logger(__name__)

API_KEY_HEADER = "X-API-Key"
# The most SMS one bulk request carries, and the most receipts one post may carry.
MAX_BATCH = 100
MAX_RECEIPTS = 500
# The most of a provider's answer read (a bulk answer of 100 is under 16 KiB), and of a post of receipts.
MAX_ANSWER_BYTES = 64 * 1024
MAX_RECEIPT_BYTES = 256 * 1024
# The most calls a provider's adapter may have in flight at once.
MAX_IN_FLIGHT = 256
# A Retry-After beyond this is reported as this (the dispatcher's backoff decides anyway).
MAX_RETRY_AFTER_SECONDS = 3600

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# A provider's error code is repeated in reasons only when it is plainly a code (a word, never
# a number that may be someone's), and its references only when plainly an id.
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_REFERENCE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True, slots=True)
class HttpSmsConfig:
    """One SMS provider: ``name`` (as settings and receipts name it), its API's ``base_url``, the
    ``api_key`` and ``signing_secret`` it issued, the registered ``brand_name``, whether its route
    takes GSM-7 only (``plain_latin_only``), the ``timeout_seconds`` of one call, how many
    calls are in flight at once (``max_in_flight``: more wait their turn before the HTTP client's
    pool, whose throughput falls as its queue grows) and how many SMS one bulk request carries
    (``batch_size``)."""

    name: str
    base_url: str
    api_key: str = field(repr=False)
    signing_secret: str = field(repr=False)
    brand_name: str
    plain_latin_only: bool = True
    timeout_seconds: float = 10.0
    max_in_flight: int = 8
    batch_size: int = 50

    def __post_init__(self) -> None:
        rules.check_sender(self.brand_name)
        if not self.api_key or not self.signing_secret:
            raise ValueError(f"SMS provider {self.name}: the API key and signing secret are required.")
        check_limits(f"SMS provider {self.name}", self.timeout_seconds, self.max_in_flight)
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"SMS provider {self.name}: between 1 and {MAX_BATCH} SMS a bulk request.")


def check_limits(who: str, timeout_seconds: float, max_in_flight: int) -> None:
    if not 0 < timeout_seconds <= 120:
        raise ValueError(f"{who}: the timeout is between 0 and 120 seconds.")
    if not 1 <= max_in_flight <= MAX_IN_FLIGHT:
        raise ValueError(f"{who}: between 1 and {MAX_IN_FLIGHT} calls in flight.")


class ReceiptRefused(Exception):
    """A receipt not believed; the route answers ``status_code``."""

    status_code = 400


class ReceiptSignatureRefused(ReceiptRefused):
    status_code = 401


class MalformedReceipt(ReceiptRefused):
    status_code = 400


def retry_after_seconds(value: str | None, now: datetime) -> int | None:
    """A ``Retry-After`` header (delay-seconds or an HTTP date) in whole seconds from ``now``,
    at most :data:`MAX_RETRY_AFTER_SECONDS`; ``None`` when missing or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(int(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, min(int((when - now).total_seconds()), MAX_RETRY_AFTER_SECONDS))


def busy_reason(what: str, status: int, retry_after: int | None) -> str:
    hint = f"; retry after {retry_after} s" if retry_after is not None else ""
    return f"{what} busy (HTTP {status}){hint}"


def code_of(value: object) -> str | None:
    """``value`` when it is a short plain code, else ``None`` (never echo what may be personal)."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def reference_of(value: object) -> str | None:
    """``value`` when it is plainly a provider's id for a message, else ``None``."""
    return value if isinstance(value, str) and _REFERENCE.fullmatch(value) else None


class Unreachable(Exception):
    """No answer from a provider's HTTP API: it timed out, or could not be reached."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class HttpProvider:
    """What an adapter of a provider's HTTP API holds (SMS, push): one client for every send (the
    caller's, shared between providers, or one of its own, closed by :meth:`aclose`), a gate on
    the sends in flight, the URL it posts to."""

    def __init__(self, name: str, url: str, timeout_seconds: float, max_in_flight: int,
                 client: httpx.AsyncClient | None) -> None:  # fmt: skip
        self._name, self._url, self._timeout = name, url, timeout_seconds
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
        self._in_flight = asyncio.Semaphore(max_in_flight)

    @property
    def name(self) -> str:
        return self._name

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def post(self, body: bytes, headers: dict[str, str],
                   url: str | None = None) -> tuple[httpx.Response, bytes | None]:  # fmt: skip
        """POST ``body`` (to ``url``, else the adapter's) once a slot is free; the answer and its
        body (``None`` when longer than ``MAX_ANSWER_BYTES``), or :class:`Unreachable` saying why."""
        target = url or self._url
        try:
            async with (
                self._in_flight,
                self._client.stream("POST", target, content=body, headers=headers, timeout=self._timeout) as answer,
            ):
                return answer, await read_bounded(answer, MAX_ANSWER_BYTES)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise Unreachable(f"unreachable ({type(exc).__name__})") from exc


async def read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """The body of a streamed ``response``, or ``None`` when it is longer than ``limit``."""
    raw = b""
    async for chunk in response.aiter_bytes():
        raw += chunk
        if len(raw) > limit:
            return None
    return raw


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_object(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        return None
    return value if isinstance(value, dict) else None


class HttpSmsProvider(HttpProvider):
    """:class:`~services.notification.domain.delivery.Provider` of SMS over one provider's API.
    One :class:`httpx.AsyncClient` serves every send: the caller's (shared between providers),
    or one of its own, closed by :meth:`aclose`."""

    def __init__(self, config: HttpSmsConfig, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(config.name, f"{config.base_url.rstrip('/')}/v1/messages", config.timeout_seconds,
                         config.max_in_flight, client)  # fmt: skip
        self.config = config
        self._batch_url = f"{config.base_url.rstrip('/')}/v1/messages/batch"

    def fields(self, message: Sms) -> dict[str, Any]:
        """What the provider is asked for ``message``; :class:`PermanentFailure` when it cannot be sent."""
        if not _E164.fullmatch(message.to):
            raise PermanentFailure("the number is not in E.164 form")
        text = rules.plain_latin(message.text) if self.config.plain_latin_only else message.text
        try:
            counted = rules.parts(text)
        except rules.SmsTextError as exc:
            raise PermanentFailure(str(exc)) from exc
        return {
            "from": self.config.brand_name, "to": message.to[1:], "text": text,
            "unicode": counted.encoding == "UCS-2", "client_ref": message.message_id,
        }  # fmt: skip

    def payload(self, message: Sms) -> bytes:
        """The request body for ``message``; :class:`PermanentFailure` when it cannot be sent."""
        return _json(self.fields(message))

    def _headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            API_KEY_HEADER: self.config.api_key,
            webhooks.HEADER: webhooks.sign(body, self.config.signing_secret, int(time.time())),
        }

    async def send(self, message: Sms) -> Handed:
        body = self.payload(message)
        try:
            response, raw = await self.post(body, self._headers(body))
        except Unreachable as failed:
            raise self._technical(message, f"provider {failed.what}") from failed
        return self._answer(message, response, raw)

    async def send_many(self, messages: Sequence[Sms]) -> list[Handed | DeliveryFailure]:
        """Each of ``messages`` handed over in bulk requests of ``batch_size`` (sent at once, up to
        ``max_in_flight``): what the provider answered for each, in order. A whole request that
        fails fails each of its messages alike."""
        answered: list[Handed | DeliveryFailure | None] = [None] * len(messages)
        asked: list[tuple[int, dict[str, Any]]] = []
        for i, message in enumerate(messages):
            try:
                asked.append((i, self.fields(message)))
            except PermanentFailure as failure:
                answered[i] = failure
        size = self.config.batch_size
        chunks = [asked[n : n + size] for n in range(0, len(asked), size)]
        for chunk, results in zip(chunks, await asyncio.gather(*(self._bulk(c) for c in chunks)), strict=True):
            for (i, _), result in zip(chunk, results, strict=True):
                answered[i] = result
        return [a if a is not None else TechnicalFailure("not sent") for a in answered]

    async def _bulk(self, chunk: list[tuple[int, dict[str, Any]]]) -> list[Handed | DeliveryFailure]:
        body = _json({"messages": [f for _, f in chunk]})
        try:
            response, raw = await self.post(body, self._headers(body), self._batch_url)
        except Unreachable as failed:
            return self._all_failed(len(chunk), TechnicalFailure(f"provider {failed.what}"))
        status = response.status_code
        if status in (429, 503):
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now().astimezone())
            log.info("sms provider busy", provider=self.name, messages=len(chunk), status=status)
            return self._all_failed(len(chunk), TemporaryFailure(busy_reason("provider", status, wait)))
        if not 200 <= status < 300:  # a whole request refused is ours to mend: tried again later
            return self._all_failed(len(chunk), TechnicalFailure(f"provider answered HTTP {status}"))
        results = (json_object(raw) or {}).get("results")
        if not isinstance(results, list) or len(results) != len(chunk):
            return self._all_failed(len(chunk), TechnicalFailure("provider's answer is not in the contract"))
        return [self._result(fields["client_ref"], result) for (_, fields), result in zip(chunk, results, strict=True)]

    def _result(self, client_ref: str, result: object) -> Handed | DeliveryFailure:
        """One message's part of a bulk answer."""
        if not isinstance(result, dict) or result.get("client_ref") != client_ref:
            return TechnicalFailure("provider's answer is not in the contract")
        if result.get("status") == "refused":
            error = code_of(result.get("error"))
            reason = f"refused by the provider{': ' + error if error else ''}"
            temporary = result.get("temporary") is True
            log.info("sms refused", provider=self.name, message_id=client_ref, error=error, temporary=temporary)
            return TemporaryFailure(reason) if temporary else PermanentFailure(reason)
        return self._handed(result) or TechnicalFailure("provider's answer is not in the contract")

    def _handed(self, answer: dict[str, Any]) -> Handed | None:
        reference, parts = reference_of(answer.get("id")), answer.get("parts")
        if answer.get("status") != "accepted" or reference is None or isinstance(parts, bool):
            return None
        if not isinstance(parts, int) or not 1 <= parts <= 255:
            return None
        return Handed(provider=self.name, reference=reference, parts=parts)

    def _all_failed(self, count: int, failure: DeliveryFailure) -> list[Handed | DeliveryFailure]:
        log.warning("sms not handed", provider=self.name, messages=count, reason=failure.reason)
        return [failure] * count

    def _answer(self, message: Sms, response: httpx.Response, raw: bytes | None) -> Handed:
        status = response.status_code
        answer = json_object(raw)
        if status in (400, 422):
            error = code_of((answer or {}).get("error"))
            reason = f"refused by the provider (HTTP {status}{': ' + error if error else ''})"
            log.info("sms refused", provider=self.name, message_id=message.message_id, status=status, error=error)
            raise PermanentFailure(reason)
        if status in (429, 503):
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now().astimezone())
            log.info("sms provider busy", provider=self.name, message_id=message.message_id, status=status)
            raise TemporaryFailure(busy_reason("provider", status, wait))
        if not 200 <= status < 300:
            raise self._technical(message, f"provider answered HTTP {status}")
        handed = self._handed(answer) if answer is not None else None
        if handed is None:
            raise self._technical(message, "provider's answer is not in the contract")
        return handed

    def _technical(self, message: Sms, reason: str) -> TechnicalFailure:
        log.warning("sms not handed", provider=self.name, message_id=message.message_id, reason=reason)
        return TechnicalFailure(reason)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _receipt_status(status: str, permanent: bool) -> ReceiptStatus:
    if status == "delivered":
        return "delivered"
    return "permanent-failure" if permanent else "temporary-failure"


def parse_receipts(
    provider: str, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: datetime
) -> list[Receipt]:
    """The :class:`Receipt` or receipts (``{"receipts": [...]}``, at most :data:`MAX_RECEIPTS`)
    a provider POSTed, once its ``X-Signature`` matches one of the ``secrets`` in force (constant
    time, within five minutes of ``now``): :class:`ReceiptSignatureRefused` (401) or
    :class:`MalformedReceipt` (400, naming the first receipt at fault) otherwise."""
    if len(body) > MAX_RECEIPT_BYTES:
        raise MalformedReceipt(f"Receipts are at most {MAX_RECEIPT_BYTES} bytes a post.")
    try:
        webhooks.verify(_header(headers, webhooks.HEADER), body, secrets, now=int(now.timestamp()))
    except webhooks.SignatureRefused as refused:
        raise ReceiptSignatureRefused(f"The receipt's signature is refused ({refused.reason}).") from refused
    data = json_object(body)
    if data is None:
        raise MalformedReceipt("A receipt is a JSON object.")
    if "receipts" not in data:
        return [_receipt(provider, data)]
    many = data["receipts"]
    if not isinstance(many, list) or not 1 <= len(many) <= MAX_RECEIPTS or len(data) != 1:
        raise MalformedReceipt(f"'receipts' is a list of 1 to {MAX_RECEIPTS} receipts, alone in the object.")
    told = []
    for n, one in enumerate(many):
        if not isinstance(one, dict):
            raise MalformedReceipt(f"Receipt {n}: a receipt is a JSON object.")
        try:
            told.append(_receipt(provider, one))
        except MalformedReceipt as bad:
            raise MalformedReceipt(f"Receipt {n}: {bad}") from None
    return told


def _receipt(provider: str, data: dict[str, Any]) -> Receipt:
    reference, status, permanent = reference_of(data.get("id")), data.get("status"), data.get("permanent", False)
    if reference is None:
        raise MalformedReceipt("A receipt names the provider's message id.")
    if not isinstance(permanent, bool) or status not in ("delivered", "failed"):
        raise MalformedReceipt("A receipt's status is 'delivered' or 'failed', 'permanent' a boolean.")
    at = data.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise MalformedReceipt("A receipt's 'at' is an ISO 8601 time with its offset.")
    detail = code_of(data.get("error")) if status == "failed" else None
    return Receipt(provider=provider, reference=reference, status=_receipt_status(status, permanent), at=when,
                   detail=detail)  # fmt: skip
