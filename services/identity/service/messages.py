"""Messages to people: sending one (kept in development, queued in production), the
development endpoint's view of them, and the worker's delivery of the queue."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from services.kit.logging import get_logger

from ..adapters.accounts import decrypt_message, encrypt_message, post_to_webhook
from ..domain import identifiers
from ..domain.messages import Channel, SentMessage, retry_delay_seconds
from ..settings import IdentitySettings
from . import fields
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)

DELIVERY_BATCH = 50


async def send(uow: IdentityUnitOfWork, settings: IdentitySettings, channel: Channel, to: str, text: str) -> None:
    """Deliver a short text (``to``: an E.164 number for SMS). In production it waits, encrypted
    (it may hold a code), in this transaction for the worker: no HTTP call inside a use case, and a
    rolled-back transaction sends nothing. Elsewhere it is kept for the development endpoint."""
    if settings.notifier == "webhook":
        await uow.messages.queue(
            channel.value, to, encrypt_message(settings.accounts_secret_key.get_secret_value(), text)
        )
    else:
        await uow.messages.keep(channel.value, to, text)


async def development_messages(uow: IdentityUnitOfWork, *, to: str, limit: int = 20) -> list[SentMessage]:
    """Messages the development notifier kept for a phone number (newest first)."""
    number = fields.one("to", lambda: identifiers.phone(to))
    return await uow.messages.kept_for(number, limit)


async def deliver_queued_messages(
    uow: IdentityUnitOfWork, settings: IdentitySettings, client: httpx.AsyncClient, now: datetime
) -> dict[str, int]:
    """Post due messages to the gateway of SMS and e-mail. A failure is retried with growing
    delays; a message older than a one-time code's lifetime is dropped (its code is useless by
    then, and it is a secret we should not keep)."""
    counts = {"sent": 0, "retry": 0, "expired": 0}
    for message in await uow.messages.due(now, DELIVERY_BATCH):
        if (now - message.created_at).total_seconds() > settings.code_ttl_seconds:
            await uow.messages.delivered(message.id)
            log.warning("message expired undelivered", channel=message.channel, phone=message.recipient)
            counts["expired"] += 1
            continue
        text = decrypt_message(settings.accounts_secret_key.get_secret_value(), message.body_encrypted)
        error = await post_to_webhook(client, settings.notifier_webhook_url, message.channel, message.recipient, text)
        if error is None:
            await uow.messages.delivered(message.id)
            counts["sent"] += 1
            continue
        delay = timedelta(seconds=retry_delay_seconds(message.attempts))
        await uow.messages.retry_later(message.id, message.attempts + 1, now + delay, error)
        counts["retry"] += 1
    return counts
