"""The request's notification unit of work, who calls, the clock and the live streams."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_scopes
from services.kit.clock import Clock
from services.kit.errors import Forbidden

from ..service.unit_of_work import NotificationUnitOfWork
from ..settings import NotificationSettings
from .streams import InboxStreams

#: A person reading their own notices and choosing how they come.
READ_SCOPE = "notification:read"
#: An operator editing the templates.
TEMPLATES_SCOPE = "notification:templates"

NotificationUnitOfWorkDep = UnitOfWorkDep[NotificationUnitOfWork]


def clock(request: Request) -> Clock:
    held: Clock | None = getattr(request.app.state, "notification_clock", None)
    if held is None:
        settings: NotificationSettings = request.app.state.settings
        held = request.app.state.notification_clock = Clock(settings.dev_clock_offset_file)
    return held


def streams(request: Request) -> InboxStreams:
    held: InboxStreams | None = getattr(request.app.state, "inbox_streams", None)
    if held is None:
        settings: NotificationSettings = request.app.state.settings
        held = request.app.state.inbox_streams = InboxStreams(
            settings.database_url.get_secret_value(), settings.streams_per_account, settings.streams_total
        )
    return held


ClockDep = Annotated[Clock, Depends(clock)]
StreamsDep = Annotated[InboxStreams, Depends(streams)]


async def _person(principal: Annotated[Principal, require_scopes(READ_SCOPE)]) -> str:
    if principal.client_id is not None and principal.subject == principal.client_id:
        raise Forbidden("An inbox belongs to a person, not to a machine client.")
    return principal.subject


async def _operator(principal: Annotated[Principal, require_scopes(TEMPLATES_SCOPE)]) -> str:
    return principal.subject


PersonDep = Annotated[str, Depends(_person)]
OperatorDep = Annotated[str, Depends(_operator)]
