"""Handing due messages to the providers: claim a batch, send it outside any transaction, record
what each provider answered.

1. **Claim** (one short transaction): the due ``created`` messages, locked, are leased: their
   ``due_at`` moves ``LEASE`` ahead, so a worker that dies while sending leaves them to be tried
   again later, not lost. An SMS over the person's hourly limit is not claimed but moved to when
   the limit allows. Every worker dispatches (the claims skip what another holds); the claims
   themselves take turns, and each counts the SMS that others hold leased, so that two
   dispatchers never pass a person's limit between them.
2. **Send**, at most ``concurrency`` at once: the contact is asked of identity (never stored);
   the channel's next provider (failover order from the settings) gets the message, with the
   message id as its idempotency key (``client_ref``, Message-ID), so a lease that ran out while
   a provider was slow does not make a second SMS at a provider that deduplicates.
3. **Record** (one transaction): ``sending`` or ``delivered``, or the failure (retried later on
   the next provider, or final); a device its push service no longer knows is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.kit.logging import get_logger

from ..domain.delivery import (
    Channel,
    DeliveryFailure,
    Email,
    Handed,
    Outgoing,
    PermanentFailure,
    Provider,
    Push,
    Receipt,
    Sms,
    TechnicalFailure,
)
from ..domain.messages import Message, RecipientLimit, Status, next_provider
from .unit_of_work import NotificationUnitOfWork

log = get_logger(__name__)

#: How long a claimed message is left to its worker before it is due again.
LEASE = timedelta(minutes=2)


class ContactOf(Protocol):
    @property
    def phone(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...


class Contacts(Protocol):
    async def of(self, account_id: str) -> ContactOf | None: ...

    async def prefetch(self, account_ids: list[str]) -> None:
        """Ask for many people at once (what ``of`` then answers from)."""


@dataclass(frozen=True)
class Providers:
    """The providers of each channel, in failover order (the settings' lists)."""

    by_channel: Mapping[Channel, tuple[Provider[Any], ...]]

    def names(self, channel: Channel) -> tuple[str, ...]:
        return tuple(p.name for p in self.by_channel.get(channel, ()))

    def named(self, channel: Channel, name: str) -> Provider[Any]:
        return next(p for p in self.by_channel[channel] if p.name == name)


@dataclass
class Run:
    claimed: int = 0
    handed: int = 0
    failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def _outgoing(message: Message, content: dict[str, Any], contact: ContactOf | None) -> Outgoing:
    """The message as its channel's provider takes it; a permanent failure when it cannot be made."""
    if message.channel == Channel.PUSH:
        if not message.device_token:
            raise PermanentFailure("no device")
        return Push(message.id, message.device_token, "android", content["title"], content["body"],
                    {str(k): str(v) for k, v in (content.get("data") or {}).items()})  # fmt: skip
    if contact is None:
        raise PermanentFailure("no such account")
    if message.channel == Channel.SMS:
        if not contact.phone:
            raise PermanentFailure("no verified phone")
        return Sms(message.id, contact.phone, content["text"])
    if not contact.email:
        raise PermanentFailure("no verified e-mail")
    return Email(message.id, contact.email, content["subject"], content["text"], content.get("html"))


async def claim(uow: NotificationUnitOfWork, now: datetime, batch: int,
                limit: RecipientLimit) -> list[tuple[Message, dict[str, Any]]]:  # fmt: skip
    """The batch to send now, leased; SMS over a person's limit moved to later."""
    due = await uow.messages.claim_due(now, batch)
    texted = sorted({m.account_id for m, _, _ in due if m.channel == Channel.SMS})
    recent = await uow.messages.sent_since_many(texted, Channel.SMS.value, now - limit.per, now) if texted else {}
    claimed: list[tuple[Message, dict[str, Any]]] = []
    later: list[Message] = []
    for message, content, _urgent in due:
        if message.channel == Channel.SMS:
            sent = recent.setdefault(message.account_id, [])
            allowed = limit.next_allowed(sent, now)
            if allowed > now:
                later.append(replace(message, due_at=allowed, updated_at=now))
                continue
            sent.append(now)  # this one counts against the next of the batch
        claimed.append((replace(message, due_at=now + LEASE, leased_until=now + LEASE, updated_at=now), content))
    await uow.messages.save_all(later + [m for m, _ in claimed])
    return claimed


class BulkProvider(Protocol):
    """A provider that also takes many messages in one call (an SMS API's bulk send)."""

    async def send_many(self, messages: Sequence[Any]) -> list[Handed | DeliveryFailure]: ...


async def send(providers: Providers, contacts: Contacts, claimed: list[tuple[Message, dict[str, Any]]],
               clock: Callable[[], datetime], concurrency: int,
               first_retry: timedelta | None = None) -> list[Message]:  # fmt: skip
    """Each claimed message handed to its provider; the messages as they now stand (each timed
    by ``clock`` when its provider answered). A provider with a bulk send gets its messages in
    one call; the others one message at a time, at most ``concurrency`` at once. ``first_retry``:
    the wait before a failed message's first retry, instead of the schedule's."""
    gate = asyncio.Semaphore(concurrency)
    with contextlib.suppress(Exception):  # unreachable now: each message's own lookup says so below
        await contacts.prefetch(sorted({m.account_id for m, _ in claimed if m.channel != Channel.PUSH}))
    done: list[Message | None] = [None] * len(claimed)
    bulk: dict[tuple[Channel, str], list[tuple[int, Message, Outgoing]]] = {}
    single: list[tuple[int, Message, str, Outgoing]] = []
    for i, (message, content) in enumerate(claimed):
        names = providers.names(message.channel)
        if not names:
            done[i] = message.failed(TechnicalFailure("no provider configured"), "", clock(), first_retry=first_retry)
            continue
        name = next_provider(names, message)
        try:
            contact = None if message.channel == Channel.PUSH else await contacts.of(message.account_id)
            outgoing = _outgoing(message, content, contact)
        except DeliveryFailure as failure:  # no contact: no provider can change that
            done[i] = message.failed(failure, name, clock(), first_retry=first_retry)
            continue
        except Exception as exc:  # identity unreachable: tried again later
            done[i] = message.failed(TechnicalFailure(type(exc).__name__), name, clock(), first_retry=first_retry)
            continue
        if hasattr(providers.named(message.channel, name), "send_many"):
            bulk.setdefault((message.channel, name), []).append((i, message, outgoing))
        else:
            single.append((i, message, name, outgoing))

    def outcome(message: Message, name: str, answer: Handed | BaseException) -> Message:
        names = providers.names(message.channel)
        if isinstance(answer, Handed):
            return message.handed(answer, clock())
        if isinstance(answer, DeliveryFailure):
            return message.failed(answer, name, clock(), names, first_retry)
        # A provider's adapter broke its contract: tried again later.
        return message.failed(TechnicalFailure(type(answer).__name__), name, clock(), first_retry=first_retry)

    async def one(i: int, message: Message, name: str, outgoing: Outgoing) -> None:
        async with gate:
            try:
                answer: Handed | BaseException = await providers.named(message.channel, name).send(outgoing)
            except Exception as exc:
                answer = exc
            done[i] = outcome(message, name, answer)

    async def many(channel: Channel, name: str, group: list[tuple[int, Message, Outgoing]]) -> None:
        provider: BulkProvider = providers.named(channel, name)  # type: ignore[assignment]
        try:
            answers: list[Handed | DeliveryFailure] | BaseException = await provider.send_many([o for _, _, o in group])
        except Exception as exc:
            answers = exc
        for n, (i, message, _) in enumerate(group):
            done[i] = outcome(message, name, answers if isinstance(answers, BaseException) else answers[n])

    await asyncio.gather(*(one(*s) for s in single), *(many(c, n, g) for (c, n), g in bulk.items()))
    return [m for m in done if m is not None]


async def record(uow: NotificationUnitOfWork, sent: list[Message]) -> Run:
    run = Run(claimed=len(sent))
    await uow.messages.save_all([replace(m, leased_until=None) for m in sent])
    for message in sent:
        run.outcomes[message.status.value] = run.outcomes.get(message.status.value, 0) + 1
        if message.status in (Status.SENDING, Status.DELIVERED):
            run.handed += 1
        else:
            run.failed += 1
        if message.channel == Channel.PUSH and message.status == Status.PERMANENT_FAILURE and message.device_token:
            await uow.devices.forget(message.device_token)
    return run


async def receipts(uow: NotificationUnitOfWork, provider: str, told: list[Receipt], now: datetime,
                   providers: tuple[str, ...] = (), first_retry: timedelta | None = None) -> list[str]:  # fmt: skip
    """A provider's receipts applied; the references that name no message (yet). The deliveries,
    most receipts, are one statement together; the rest go one by one through :func:`receipt`."""
    delivered = await uow.messages.delivered_many(
        provider, [r.reference for r in told if r.status == "delivered"], now
    )  # fmt: skip
    unknown = []
    for one in told:
        if one.reference in delivered:
            continue
        if not await receipt(uow, provider, one.reference, one.status, one.detail, now, providers, first_retry):
            unknown.append(one.reference)
    return unknown


async def receipt(uow: NotificationUnitOfWork, provider: str, reference: str, status: str, detail: str | None,
                  now: datetime, providers: tuple[str, ...] = (),
                  first_retry: timedelta | None = None) -> bool:  # fmt: skip
    """A provider's delivery receipt applied to the message it names; False when no message has
    that reference (yet: a receipt can overtake the recording of the hand-over). A delivery, most
    receipts, is one statement; a failure goes through the message's rules (retry, failover)."""
    if status == "delivered":
        if await uow.messages.delivered(provider, reference, now):
            return True
        return await uow.messages.by_reference(provider, reference) is not None  # already final, or unknown
    message = await uow.messages.by_reference(provider, reference)
    if message is None:
        return False
    updated = message.receipt(status, detail, now, providers, first_retry)  # type: ignore[arg-type]
    if updated != message:
        await uow.messages.save(updated)
    return True
