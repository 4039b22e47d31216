"""The request's identity unit of work, as the use cases take it.

The kit's request unit (``services.kit.app.request_unit_of_work``): the one owner of the commit on
the HTTP side. It commits when the route returns and rolls back when an error escapes, before the
response is sent, but commits a ``RecordedRefusal`` (a wrong password, a wrong code, a lockout)
before it answers as a problem, so that the failure it counted, the attempt it audited and the lock
event it emitted stay. Routes that answer a refusal themselves (the sign-in page, the OAuth error
bodies) return normally and their unit commits as well. Use cases never commit.
"""

from __future__ import annotations

from services.kit.app import UnitOfWorkDep

from ..service.unit_of_work import IdentityUnitOfWork

IdentityUnitOfWorkDep = UnitOfWorkDep[IdentityUnitOfWork]
