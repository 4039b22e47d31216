"""The request's payment unit of work, as the use cases take it."""

from __future__ import annotations

from services.kit.app import UnitOfWorkDep

from ..service.unit_of_work import PaymentUnitOfWork

# The kit's request unit (committed when the route returns, and on a RecordedRefusal): the
# payment ServiceSpec makes it a SqlPaymentUnitOfWork.
PaymentUnitOfWorkDep = UnitOfWorkDep[PaymentUnitOfWork]
