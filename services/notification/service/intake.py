"""From a triggering event to a notice: once per event and person, an inbox item always, and a
message on each channel the kind and the person's preferences allow.

The made texts go into the messages' ``content`` (purged after the retention); contact details
do not: the dispatcher asks identity for them when it hands a message over, so they never sit in
this database, in Kafka or in logs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain.delivery import Channel
from ..domain.messages import Message, QuietHours, Status
from ..domain.notices import RULES, Kind, Preferences
from ..domain.templates import Template, render
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


async def notify_many(uow: NotificationUnitOfWork, triggers: list[Trigger], now: datetime,
                      quiet: QuietHours) -> list[Made]:  # fmt: skip
    """The notices ``triggers`` ask for, in a few statements whatever their number: each
    template read once, the notices kept at once (those an event already made are skipped), the
    people's preferences and devices read at once, then the inbox items and the messages."""
    if not triggers:
        return []
    chosen_templates: dict[tuple[Kind, str | None], Template] = {}
    prepared: list[tuple[Trigger, Notice, dict[str, str]]] = []
    for trigger in triggers:
        language = trigger.language if trigger.language in ("vi", "en") else None
        key = (trigger.kind, language)
        if key not in chosen_templates:
            chosen_templates[key] = await templates.made(uow, trigger.kind, language)  # type: ignore[arg-type]
        template = chosen_templates[key]
        texts = render(template, trigger.values).texts
        notice = Notice(str(uuid.uuid4()), trigger.event_id, trigger.account_id, trigger.kind, template.language,
                        template.version, now)  # fmt: skip
        prepared.append((trigger, notice, texts))
    added = await uow.notices.add_all([n for _, n, _ in prepared])
    fresh = [(t, n, x) for t, n, x in prepared if n.id in added]
    if not fresh:
        return []
    people = sorted({t.account_id for t, _, _ in fresh})
    chosen = await uow.preferences.get_many(people)
    devices = await uow.devices.of_many(people)
    items: list[InboxItem] = []
    messages: list[tuple[Message, dict[str, Any], bool]] = []
    made: list[Made] = []
    for trigger, notice, texts in fresh:
        item = InboxItem(str(uuid.uuid4()), trigger.account_id, notice.id, trigger.kind, texts["inbox_title"],
                         texts["inbox_body"], trigger.link, now)  # fmt: skip
        items.append(item)
        preferences = chosen.get(trigger.account_id) or Preferences(trigger.account_id)
        urgent = RULES[trigger.kind].urgent
        own: list[Message] = []
        for channel in sorted(preferences.channels_for(trigger.kind)):
            due = quiet.next_allowed(now) if channel == Channel.SMS and not urgent else now
            content = _content(channel, texts)
            targets: list[str | None] = (
                [d.token for d in devices.get(trigger.account_id, [])] if channel == Channel.PUSH else [None]
            )
            for token in targets:
                message = Message(str(uuid.uuid4()), notice.id, trigger.account_id, channel, Status.CREATED, 0, due,
                                  now, now, device_token=token)  # fmt: skip
                data = {"kind": trigger.kind.value, **({"link": trigger.link} if trigger.link else {})}
                messages.append((message, {**content, **({"data": data} if token else {})}, urgent))
                own.append(message)
        made.append(Made(notice, item, own))
    await uow.inbox.add_all(items)
    await uow.inbox.signal_many(people)
    await uow.messages.add_all(messages)
    return made
