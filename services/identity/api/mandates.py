"""Routes of enterprise mandates (``docs/mandates.md``): the legal representative, or a
representative holding ``manage``, lists, grants and revokes an enterprise's mandates; a person
lists those they hold. A person's own token (not a machine's); an enterprise whose mandates the
caller may not manage answers 404 as an unknown one does (BOLA)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from services.kit.auth import Principal, require_scopes
from services.kit.errors import Forbidden
from services.kit.schemas import PersonalId, StrictModel

from ..domain.accounts import Account
from ..domain.mandates import MAX_LISTED, Mandate, MandateRole
from ..service import mandates
from .dependencies import IdentityUnitOfWorkDep

router = APIRouter(tags=["mandates"])

TAX_CODE_PATH = r"^[0-9]{10}(-[0-9]{3})?$"
EnterprisePath = Annotated[str, Path(min_length=10, max_length=14, pattern=TAX_CODE_PATH,
                                     description="The enterprise's tax code.")]  # fmt: skip
MandatePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]


async def _person(principal: Annotated[Principal, require_scopes()]) -> Principal:
    if principal.client_id is not None and principal.subject == principal.client_id:
        raise Forbidden("Mandates are managed by a person signed in, not by a machine client.")
    return principal


Person = Annotated[Principal, Depends(_person)]


class MandateCreate(StrictModel):
    """Mandate a citizen, named by the personal identification number, with one role or more."""

    representative_personal_id: PersonalId
    roles: Annotated[list[MandateRole], Field(min_length=1, max_length=len(MandateRole))]


class MandatePublic(BaseModel):
    id: str
    enterprise_id: str
    representative_id: str
    roles: list[str]
    active: bool
    granted_by: str
    granted_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, m: Mandate) -> MandatePublic:
        return cls(
            id=m.id, enterprise_id=m.enterprise_id, representative_id=m.representative_id, roles=list(m.roles),
            active=m.active, granted_by=m.granted_by, granted_at=m.granted_at, revoked_by=m.revoked_by,
            revoked_at=m.revoked_at,
        )  # fmt: skip


class MandatesPage(BaseModel):
    """An enterprise's mandates, active first then newest first, at most 200."""

    enterprise_id: str
    tax_code: str
    mandates: list[MandatePublic] = Field(max_length=MAX_LISTED)


class HeldMandatePublic(BaseModel):
    """A mandate the person holds, with the enterprise to name in ``acting_for``."""

    mandate: MandatePublic
    enterprise_tax_code: str
    enterprise_name: str


class HeldMandates(BaseModel):
    mandates: list[HeldMandatePublic]


def _now() -> datetime:
    return datetime.now(UTC)


def _held(m: Mandate, enterprise: Account) -> HeldMandatePublic:
    return HeldMandatePublic(
        mandate=MandatePublic.of(m), enterprise_tax_code=enterprise.tax_code or "", enterprise_name=enterprise.name
    )


@router.get("/enterprises/{tax_code}/mandates", response_model=MandatesPage, operation_id="listMandates")
async def list_mandates(tax_code: EnterprisePath, uow: IdentityUnitOfWorkDep, who: Person) -> MandatesPage:
    """The enterprise's mandates (active and revoked), for its legal representative or a
    representative with ``manage``; 404 for anyone else."""
    enterprise, found = await mandates.list_mandates(uow, tax_code, who.subject)
    return MandatesPage(enterprise_id=enterprise.id, tax_code=enterprise.tax_code or tax_code,
                        mandates=[MandatePublic.of(m) for m in found])  # fmt: skip


@router.post("/enterprises/{tax_code}/mandates", status_code=201, response_model=MandatePublic,
             operation_id="grantMandate")  # fmt: skip
async def grant_mandate(
    tax_code: EnterprisePath, body: MandateCreate, uow: IdentityUnitOfWorkDep, who: Person
) -> MandatePublic:
    """Ủy quyền: mandate an active citizen to act for the enterprise. 409 when the person already
    holds an active mandate, or the enterprise has 50 active ones; 404 for an unknown person."""
    granted = await mandates.grant(
        uow, tax_code, who.subject, body.representative_personal_id, [r.value for r in body.roles], _now()
    )
    return MandatePublic.of(granted)


@router.delete("/enterprises/{tax_code}/mandates/{mandate_id}", status_code=204, operation_id="revokeMandate")
async def revoke_mandate(
    tax_code: EnterprisePath, mandate_id: MandatePath, uow: IdentityUnitOfWorkDep, who: Person
) -> Response:
    """Revoke the mandate: the codes and tokens issued under it stop working at once (refresh
    fails, introspection says inactive); services refuse its tokens once the event arrives."""
    await mandates.revoke(uow, tax_code, who.subject, mandate_id, _now())
    return Response(status_code=204)


@router.get("/mandates", response_model=HeldMandates, operation_id="listHeldMandates")
async def held_mandates(uow: IdentityUnitOfWorkDep, who: Person) -> HeldMandates:
    """The active mandates the signed-in person holds: whom they may act for."""
    return HeldMandates(mandates=[_held(m, e) for m, e in await mandates.held_by(uow, who.subject)])
