"""What the service hands to a provider, and what a provider answers: the port every channel's
adapter implements (``adapters/email.py``, ``adapters/sms.py``, ``adapters/push.py``), so the
dispatcher treats SMTP, a carrier's SMS API and a push service alike. Pure Python.

A provider either takes the message (:class:`Handed`, with its own reference for the delivery
receipts it will send, or already final when the protocol itself says delivered, as an SMTP
server's acceptance does) or refuses it with one of three failures, named as GOV.UK Notify names
them: temporary (try again later: the dispatcher retries with backoff for up to 72 hours, on the
next provider first when failover is configured), permanent (this recipient cannot get it: an
unknown number, a rejected address; not retried) and technical (the provider could not be
reached or broke its protocol: retried like a temporary failure, counted apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, TypeVar


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


@dataclass(frozen=True, slots=True)
class Email:
    """One e-mail: ``to`` an address; both bodies made from the template (``html`` optional)."""

    message_id: str
    to: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Sms:
    """One SMS: ``to`` an E.164 number (``+84…``); ``text`` as the template made it (the adapter
    folds it to plain Latin when its provider requires, and counts its parts)."""

    message_id: str
    to: str
    text: str


@dataclass(frozen=True, slots=True)
class Push:
    """One push notification to one device (``token`` as its platform's service issued it)."""

    message_id: str
    token: str
    platform: Literal["android", "ios", "web"]
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


Outgoing = Email | Sms | Push
M_contra = TypeVar("M_contra", bound=Outgoing, contravariant=True)


@dataclass(frozen=True, slots=True)
class Handed:
    """The provider took the message. ``reference`` is its id for it (receipts name it);
    ``delivered`` when the protocol's acceptance is itself the delivery (SMTP's 250); ``parts``
    how many billable parts it made (an SMS's segments; 1 otherwise)."""

    provider: str
    reference: str
    delivered: bool = False
    parts: int = 1


class DeliveryFailure(Exception):
    """The provider did not take the message. ``reason`` is short and holds no personal data or
    secret (it is stored and logged)."""

    status: Literal["temporary-failure", "permanent-failure", "technical-failure"]

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporaryFailure(DeliveryFailure):
    status = "temporary-failure"


class PermanentFailure(DeliveryFailure):
    status = "permanent-failure"


class TechnicalFailure(DeliveryFailure):
    status = "technical-failure"


class Provider(Protocol[M_contra]):
    """One provider of one channel. ``name`` is how settings and receipts name it."""

    @property
    def name(self) -> str: ...

    async def send(self, message: M_contra) -> Handed:
        """Hand ``message`` over; raise a :class:`DeliveryFailure` when it is not taken."""
        ...


ReceiptStatus = Literal["delivered", "temporary-failure", "permanent-failure"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """A provider's delivery receipt for a message it took (``reference`` from :class:`Handed`)."""

    provider: str
    reference: str
    status: ReceiptStatus
    at: datetime
    detail: str | None = None
