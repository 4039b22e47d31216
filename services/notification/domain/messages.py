"""A message on one channel and its delivery status, the retry schedule, quiet hours and the
per-recipient limit. Pure Python.

Statuses are GOV.UK Notify's: ``created`` (waiting to be handed over, first or again),
``sending`` (a provider took it, its receipt is awaited), ``delivered``, ``temporary-failure``
(the providers could not deliver it for ``GIVE_UP_AFTER``: until then each such failure sends
it back to ``created`` with a backoff, the failure kept as its reason), ``permanent-failure``
(this recipient cannot get it) and ``technical-failure`` (providers unreachable or broken for as
long, or the message could not be made: no contact, a template refused). The last three are
final. A failure on one provider moves the next attempt to the next provider configured for
the channel (failover is a list in the settings, not code).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum

from services.kit.calendar import VIETNAM_TZ

from .delivery import Channel, DeliveryFailure, Handed, ReceiptStatus


class Status(StrEnum):
    CREATED = "created"
    SENDING = "sending"
    DELIVERED = "delivered"
    TEMPORARY_FAILURE = "temporary-failure"
    PERMANENT_FAILURE = "permanent-failure"
    TECHNICAL_FAILURE = "technical-failure"


#: How long a message is tried before a temporary or technical failure becomes final.
GIVE_UP_AFTER = timedelta(hours=72)
#: Waits before each retry (the last repeats): about 30 tries over the 72 hours.
BACKOFF = (
    timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
    timedelta(hours=1), timedelta(hours=3),
)  # fmt: skip


def backoff(attempts: int, first: timedelta | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based); ``first`` instead of the
    schedule's first wait, where given (development and tests only: the later ones are kept)."""
    if attempts <= 1 and first is not None:
        return first
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Non-urgent SMS wait for the morning: from ``start`` to ``end``, Vietnam time."""

    start: time = time(21, 0)
    end: time = time(7, 0)

    def next_allowed(self, at: datetime) -> datetime:
        """``at`` itself when outside the quiet hours, else when they end."""
        local = at.astimezone(VIETNAM_TZ)
        moment = local.timetz().replace(tzinfo=None)
        overnight = self.start > self.end
        quiet = (moment >= self.start or moment < self.end) if overnight else self.start <= moment < self.end
        if not quiet:
            return at
        day = local.date() if (not overnight or moment < self.end) else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, VIETNAM_TZ)


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    notice_id: str
    account_id: str
    channel: Channel
    status: Status
    attempts: int
    due_at: datetime  # when it is next handed over (while created)
    created_at: datetime
    updated_at: datetime
    provider: str | None = None
    reference: str | None = None
    parts: int = 1
    reason: str | None = None
    device_token: str | None = None  # push: the device it is for
    refused_by: tuple[str, ...] = ()  # providers that failed it permanently
    handed_at: datetime | None = None  # when a provider last took it
    leased_until: datetime | None = None  # a dispatcher is handing it over (claimed) until then

    @property
    def final(self) -> bool:
        """Nothing more will happen to it: delivered, or failed for good."""
        return self.status not in (Status.CREATED, Status.SENDING)

    def handed(self, handed: Handed, now: datetime) -> Message:
        status = Status.DELIVERED if handed.delivered else Status.SENDING
        return replace(self, status=status, provider=handed.provider, reference=handed.reference,
                       parts=handed.parts, attempts=self.attempts + 1, updated_at=now, reason=None,
                       handed_at=now)  # fmt: skip

    def failed(self, failure: DeliveryFailure, provider: str, now: datetime,
               providers: tuple[str, ...] = (), first_retry: timedelta | None = None) -> Message:  # fmt: skip
        """After a failed hand-over: retried later (a permanent failure at once, on a provider of
        ``providers`` that has not refused it), unless every provider refused it or it is too old.
        ``first_retry``: the first wait instead of the schedule's (:func:`backoff`)."""
        attempts = self.attempts + 1
        return self._failure(Status(failure.status), failure.reason, provider, attempts, now, providers, first_retry)

    def receipt(self, status: ReceiptStatus, detail: str | None, now: datetime,
                providers: tuple[str, ...] = (), first_retry: timedelta | None = None) -> Message:  # fmt: skip
        """The provider's receipt for the message it took."""
        if self.status != Status.SENDING:
            return self  # a late or repeated receipt: the message has moved on
        if status == "delivered":
            return replace(self, status=Status.DELIVERED, updated_at=now, reason=None)
        return self._failure(Status(status), detail or status, self.provider or "", self.attempts, now, providers,
                             first_retry)  # fmt: skip

    def _failure(self, status: Status, reason: str, provider: str, attempts: int, now: datetime,
                 providers: tuple[str, ...], first_retry: timedelta | None = None) -> Message:  # fmt: skip
        refused_by = self.refused_by
        if status == Status.PERMANENT_FAILURE:
            # A provider's permanent refusal may be its own (a route it lacks): the next provider
            # that has not refused it tries at once; when every one has, it is final.
            refused_by = tuple(dict.fromkeys((*refused_by, provider)))
            if any(p not in refused_by for p in providers):
                return replace(self, status=Status.CREATED, attempts=attempts, provider=provider, due_at=now,
                               reason=f"{status.value} at {provider}: {reason}"[:200], updated_at=now,
                               refused_by=refused_by)  # fmt: skip
        retry_at = now + backoff(attempts, first_retry)
        give_up = status == Status.PERMANENT_FAILURE or retry_at - self.created_at > GIVE_UP_AFTER
        # A failure status is final; a message retried waits as ``created``, the failure its reason.
        if give_up:
            return replace(self, status=status, attempts=attempts, provider=provider, reason=reason[:200],
                           updated_at=now, refused_by=refused_by)  # fmt: skip
        return replace(self, status=Status.CREATED, attempts=attempts, provider=provider,
                       reason=f"{status.value}: {reason}"[:200], due_at=retry_at, updated_at=now)  # fmt: skip


def next_provider(providers: tuple[str, ...], message: Message) -> str:
    """The provider for the next attempt: the first, then the next after each failure (round),
    skipping those that refused the message for good."""
    if not providers:
        raise ValueError("no provider is configured for this channel")
    open_ = [p for p in providers if p not in message.refused_by] or list(providers)
    if message.attempts == 0 or message.provider not in providers:
        return open_[0]
    start = providers.index(message.provider)
    for step in range(1, len(providers) + 1):
        candidate = providers[(start + step) % len(providers)]
        if candidate in open_:
            return candidate
    return open_[0]


@dataclass(frozen=True, slots=True)
class RecipientLimit:
    """At most ``count`` SMS to one person in ``per``: the next waits until the window allows."""

    count: int = 10
    per: timedelta = timedelta(hours=1)

    def next_allowed(self, recent: list[datetime], at: datetime) -> datetime:
        """When one more may go, given when the last ones went (any order)."""
        window = sorted(t for t in recent if t > at - self.per)
        if len(window) < self.count:
            return at
        return window[len(window) - self.count] + self.per
