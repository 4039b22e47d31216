"""The request's catalogue unit of work, as the use cases take it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.kit.app import UnitOfWorkDep

from ..service.unit_of_work import CatalogueUnitOfWork


async def catalogue_unit_of_work(uow: UnitOfWorkDep) -> CatalogueUnitOfWork:
    """The kit's request unit (committed when the route returns), which the service spec makes a
    catalogue one."""
    if not isinstance(uow, CatalogueUnitOfWork):
        raise TypeError("the catalogue's ServiceSpec names its unit of work")
    return uow


CatalogueUnitOfWorkDep = Annotated[CatalogueUnitOfWork, Depends(catalogue_unit_of_work)]
