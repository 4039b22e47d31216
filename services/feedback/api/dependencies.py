"""The request's feedback unit of work, who calls, and what the deployment decided (``Rules``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from contracts.assurance import SECOND_FACTOR
from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_acr, require_scopes
from services.kit.clock import Clock
from services.kit.errors import Forbidden
from services.kit.storage import FileStorage, storage_of

from ..domain.access import PROCESS_SCOPE, SEND_SCOPE, Caller
from ..service.rules import Rules, rules_of
from ..service.unit_of_work import FeedbackUnitOfWork
from ..settings import FeedbackSettings

# The kit's request unit (committed when the route returns): a SqlFeedbackUnitOfWork.
FeedbackUnitOfWorkDep = UnitOfWorkDep[FeedbackUnitOfWork]


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the routes need besides the unit of work, made once per app from its settings."""

    rules: Rules
    clock: Clock
    storage: FileStorage


def _runtime(request: Request) -> Runtime:
    state = request.app.state
    held: Runtime | None = getattr(state, "feedback_runtime", None)
    if held is None:
        settings: FeedbackSettings = state.settings
        held = state.feedback_runtime = Runtime(
            rules_of(settings), Clock(settings.dev_clock_offset_file), storage_of(settings)
        )
    return held


def rules(request: Request) -> Rules:
    return _runtime(request).rules


def clock(request: Request) -> Clock:
    return _runtime(request).clock


def storage(request: Request) -> FileStorage:
    return _runtime(request).storage


RulesDep = Annotated[Rules, Depends(rules)]
ClockDep = Annotated[Clock, Depends(clock)]
StorageDep = Annotated[FileStorage, Depends(storage)]


async def _sender(principal: Annotated[Principal, require_scopes(SEND_SCOPE)]) -> Caller:
    if principal.client_id is not None and principal.subject == principal.client_id:
        raise Forbidden("Feedback is sent by a person, not by a machine client.")
    return Caller.of(principal.subject, principal.scopes, principal.claims)


# Officials handle feedback signed in with a second factor: a weaker sign-in is told to step up
# (401 with the RFC 9470 challenge), a token without the processing scope is 403.
async def _official(principal: Annotated[Principal, require_acr(SECOND_FACTOR, PROCESS_SCOPE)]) -> Caller:
    caller = Caller.of(principal.subject, principal.scopes, principal.claims)
    if not caller.agencies:
        raise Forbidden("Your token names no agency.")
    return caller


SenderDep = Annotated[Caller, Depends(_sender)]
OfficialDep = Annotated[Caller, Depends(_official)]
