"""From a triggering event to a notice: once per event and person, an inbox item always, and a
message on each channel the kind and the person's preferences allow.

The made texts go into the messages' ``content`` (purged after the retention); contact details
do not: the dispatcher asks identity for them when it hands a message over, so they never sit in
this database, in Kafka or in logs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.delivery import Channel
from ..domain.messages import Message, QuietHours, Status
from ..domain.notices import RULES, Kind, Preferences
from ..domain.templates import render
from . import templates
from .unit_of_work import InboxItem, Notice, NotificationUnitOfWork


@dataclass(frozen=True, slots=True)
class Trigger:
    """Tell ``account_id`` a notice of ``kind`` made with ``values``, because of ``event_id``."""

    event_id: str
    account_id: str
    kind: Kind
    values: dict[str, Any]
    link: str | None = None
    language: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Made:
    notice: Notice
    item: InboxItem
    messages: list[Message]


def _content(channel: Channel, texts: dict[str, str]) -> dict[str, Any]:
    if channel == Channel.EMAIL:
        return {"subject": texts["subject"], "text": texts["email_text"], "html": texts.get("email_html")}
    if channel == Channel.SMS:
        return {"text": texts["sms"]}
    return {"title": texts["push_title"], "body": texts["push_body"]}


async def notify(uow: NotificationUnitOfWork, trigger: Trigger, now: datetime, quiet: QuietHours) -> Made | None:
    """The notice ``trigger`` asks for; None when this event already made it (a redelivery)."""
    language = trigger.language if trigger.language in ("vi", "en") else None
    template = await templates.made(uow, trigger.kind, language)  # type: ignore[arg-type]
    rendered = render(template, trigger.values)
    notice = Notice(str(uuid.uuid4()), trigger.event_id, trigger.account_id, trigger.kind, template.language,
                    template.version, now)  # fmt: skip
    if not await uow.notices.add(notice):
        return None
    texts = rendered.texts
    item = InboxItem(str(uuid.uuid4()), trigger.account_id, notice.id, trigger.kind, texts["inbox_title"],
                     texts["inbox_body"], trigger.link, now)  # fmt: skip
    await uow.inbox.add(item)
    await uow.inbox.signal(trigger.account_id)
    chosen = await uow.preferences.get(trigger.account_id) or Preferences(trigger.account_id)
    urgent = RULES[trigger.kind].urgent
    made: list[tuple[Message, dict[str, Any], bool]] = []
    for channel in sorted(chosen.channels_for(trigger.kind)):
        due = quiet.next_allowed(now) if channel == Channel.SMS and not urgent else now
        content = _content(channel, texts)
        if channel == Channel.PUSH:
            targets: list[str | None] = [d.token for d in await uow.devices.of(trigger.account_id)]
        else:
            targets = [None]
        for token in targets:
            message = Message(str(uuid.uuid4()), notice.id, trigger.account_id, channel, Status.CREATED, 0, due, now,
                              now, device_token=token)  # fmt: skip
            made.append((message, {**content, **({"data": trigger.extra} if token else {})}, urgent))
    await uow.messages.add_all(made)
    return Made(notice, item, [m for m, _, _ in made])
