"""The request's sync unit of work, as the use cases take it."""

from __future__ import annotations

from services.kit.app import UnitOfWorkDep

from ..service.unit_of_work import SyncUnitOfWork

# The kit's request unit (committed when the route returns, and on a RecordedRefusal): the
# sync ServiceSpec makes it a SqlSyncUnitOfWork.
SyncUnitOfWorkDep = UnitOfWorkDep[SyncUnitOfWork]
