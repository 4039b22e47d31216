"""The identity routes' unit of work: the one owner of the commit on the HTTP side.

Like the kit's request unit (``services.kit.app.request_unit_of_work``) it commits when the
route returns and rolls back when an error escapes, before the response is sent. One more
rule: a :class:`RecordedRefusal` (a wrong password, a wrong code, a lockout) is committed before
it answers as a problem, so that the failure it counted, the attempt it audited and the lock
event it emitted stay. Routes that answer a refusal themselves (the sign-in page, the OAuth
error bodies) return normally and their unit commits as well. Use cases never commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from ..domain.accounts import RecordedRefusal
from ..service.unit_of_work import IdentityUnitOfWork


async def identity_unit_of_work(request: Request) -> AsyncIterator[IdentityUnitOfWork]:
    uow: IdentityUnitOfWork
    async with request.app.state.db.unit_of_work() as uow:  # the spec's SqlIdentityUnitOfWork
        try:
            yield uow
        except RecordedRefusal:
            await uow.commit()
            raise
        await uow.commit()


IdentityUnitOfWorkDep = Annotated[IdentityUnitOfWork, Depends(identity_unit_of_work, scope="function")]
