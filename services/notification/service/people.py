"""What a person does with their notices: read the inbox, mark items read, choose channels and
switch off what is not essential, register the devices that get push notifications. Each reads
and changes only the caller's own rows (the account id comes from the token, never the request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.kit.cursors import time_page, time_position
from services.kit.errors import Conflict, NotFound, ValidationFailed

from ..domain.delivery import Channel
from ..domain.notices import EssentialKind, Kind, Preferences, choose
from .unit_of_work import Device, InboxItem, NotificationUnitOfWork


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: list[InboxItem]
    next: str | None
    unread: int


async def inbox(uow: NotificationUnitOfWork, account_id: str, cursor: str | None, limit: int,
                unread_only: bool) -> InboxPage:  # fmt: skip
    found = await uow.inbox.page(account_id, time_position(cursor), limit + 1, unread_only)
    items, after = time_page(found, limit, lambda i: (i.created_at, i.id))
    return InboxPage(items, after, await uow.inbox.unread(account_id))


async def mark_read(uow: NotificationUnitOfWork, account_id: str, item_id: str | None, now: datetime) -> int:
    """One item (404 when it is not the caller's, read or not) or all of them; how many changed."""
    changed = await uow.inbox.mark_read(account_id, item_id, now)
    if item_id is not None and changed == 0 and not await uow.inbox.owns(account_id, item_id):
        raise NotFound("No inbox item of yours has this id.")
    if changed:
        await uow.inbox.signal(account_id)
    return changed


async def forget(uow: NotificationUnitOfWork, account_id: str) -> int:
    """The account was deleted: its inbox, preferences and devices go, its messages' texts too
    (their statuses stay, under an id no one can trace back any more); how many items went."""
    return await uow.inbox.forget(account_id) + await uow.devices.forget_account(account_id) + (
        await uow.preferences.forget(account_id)) + await uow.messages.forget(account_id)  # fmt: skip


async def preferences(uow: NotificationUnitOfWork, account_id: str) -> Preferences:
    return await uow.preferences.get(account_id) or Preferences(account_id)


async def choose_preferences(uow: NotificationUnitOfWork, account_id: str, channels: set[Channel],
                             switched_off: set[Kind], now: datetime) -> Preferences:  # fmt: skip
    try:
        chosen = choose(account_id, channels, switched_off)
    except EssentialKind as exc:
        raise ValidationFailed([{"field": "switched_off", "location": "body",
                                 "message": f"Essential notices cannot be switched off: {exc}."}]) from exc  # fmt: skip
    await uow.preferences.put(chosen, now)
    return chosen


async def register_device(uow: NotificationUnitOfWork, account_id: str, token: str, platform: str, now: datetime,
                          most: int) -> Device:  # fmt: skip
    held = await uow.devices.of(account_id)
    if token not in {d.token for d in held} and len(held) >= most:
        raise Conflict(f"At most {most} devices per account; remove one first.")
    device = Device(token, account_id, platform, now)
    await uow.devices.add(device)
    return device


async def remove_device(uow: NotificationUnitOfWork, account_id: str, token: str) -> None:
    if not await uow.devices.remove(account_id, token):
        raise NotFound("No device of yours has this token.")
