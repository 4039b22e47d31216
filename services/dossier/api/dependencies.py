"""The request's dossier unit of work, as the use cases take it."""

from __future__ import annotations

from services.kit.app import UnitOfWorkDep

from ..service.unit_of_work import DossierUnitOfWork

# The kit's request unit (committed when the route returns, and on a RecordedRefusal): the
# dossier ServiceSpec makes it a SqlDossierUnitOfWork.
DossierUnitOfWorkDep = UnitOfWorkDep[DossierUnitOfWork]
