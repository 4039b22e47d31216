"""Mandates in the dossier service: the read model fed by identity's events, and the check that a
token acting for an enterprise still may (its mandate active here, with the role needed)."""

from __future__ import annotations

from contracts.events.identity_mandates import MandateGranted, MandateRevoked
from contracts.json import JsonObject

from ..domain.access import Caller
from ..domain.mandates import MandateRefused
from .unit_of_work import DossierUnitOfWork


async def apply_granted(uow: DossierUnitOfWork, data: JsonObject) -> None:
    event = MandateGranted.model_validate(data)
    await uow.mandates.granted(event.mandate_id, event.enterprise_id, event.representative_id, list(event.roles),
                               event.granted_at)  # fmt: skip


async def apply_revoked(uow: DossierUnitOfWork, data: JsonObject) -> None:
    event = MandateRevoked.model_validate(data)
    await uow.mandates.revoked(event.mandate_id, event.enterprise_id, event.representative_id, event.revoked_at)


async def check(uow: DossierUnitOfWork, caller: Caller, role: str) -> None:
    """Nothing for a person acting for themselves; for a token acting for an enterprise,
    :class:`MandateRefused` unless the read model holds its mandate active with ``role``."""
    if caller.acting is None:
        return
    mandate = await uow.mandates.get(caller.acting.mandate_id)
    if mandate is None or not mandate.allows(caller.acting, role):
        raise MandateRefused()
