"""The request's catalogue unit of work, as the use cases take it."""

from __future__ import annotations

from services.kit.app import UnitOfWorkDep

from ..service.unit_of_work import CatalogueUnitOfWork

# The kit's request unit (committed when the route returns): the catalogue's ServiceSpec makes it
# a SqlCatalogueUnitOfWork, so it is the use cases' CatalogueUnitOfWork as it is (no second
# dependency to check it, on the search path).
CatalogueUnitOfWorkDep = UnitOfWorkDep[CatalogueUnitOfWork]
