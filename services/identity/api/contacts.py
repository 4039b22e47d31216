"""Routes of the contacts lookup and of the officials lookup (who acts for an agency), for
services that notify people (the notification service): a machine client's token from the
client-credentials grant with the scope ``identity:contacts``, never a person's token. Answers
are ``no-store``: a service keeps them in a short-lived cache of its own, or not at all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.kit.auth import Principal, require_scopes
from services.kit.errors import Forbidden

from ..domain.contacts import CONTACTS_SCOPE
from ..service import contacts
from .dependencies import IdentityUnitOfWorkDep
from .schemas import (
    AccountContactPublic,
    AccountContactsPublic,
    ContactsLookup,
    OfficialPublic,
    OfficialsPage,
    OfficialsQuery,
)

router = APIRouter()

NO_STORE = "no-store"
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


async def _service(principal: Annotated[Principal, require_scopes(CONTACTS_SCOPE)]) -> Principal:
    """A client acting for itself (client credentials: the subject is the client, and no person
    signed in); a person's token is refused whatever scopes it carries."""
    if principal.client_id is None or principal.subject != principal.client_id or principal.acr is not None:
        raise Forbidden("Contact details are given to services signed in with client credentials, not to a person.")
    return principal


Service = Annotated[Principal, Depends(_service)]


@router.get("/contacts/{account_id}", response_model=AccountContactPublic, operation_id="getContact")
async def get_contact(
    account_id: PathId, uow: IdentityUnitOfWorkDep, _service: Service, response: Response
) -> AccountContactPublic:
    """Where to reach an account's holder; 404 for an unknown, unverified or deleted account."""
    response.headers["Cache-Control"] = NO_STORE
    return AccountContactPublic.of(await contacts.contact(uow, account_id))


@router.post("/contacts/lookup", response_model=AccountContactsPublic, operation_id="lookUpContacts")
async def look_up_contacts(
    body: ContactsLookup, uow: IdentityUnitOfWorkDep, _service: Service, response: Response
) -> AccountContactsPublic:
    """Where to reach up to 100 accounts' holders; unknown, unverified and deleted accounts are
    listed as ``missing``."""
    response.headers["Cache-Control"] = NO_STORE
    found = await contacts.contacts(uow, body.accounts)
    return AccountContactsPublic(contacts=[AccountContactPublic.of(c) for c in found.contacts], missing=found.missing)


@router.get("/officials", response_model=OfficialsPage, operation_id="listOfficials")
async def list_officials(
    query: Annotated[OfficialsQuery, Query()], uow: IdentityUnitOfWorkDep, _service: Service, response: Response
) -> OfficialsPage:
    """The active officials of the agencies asked (``agency`` repeated, at most 50), by account id,
    at most ``limit`` (500) a page: ids and agency codes only (contact details come from the
    contacts lookup)."""
    response.headers["Cache-Control"] = NO_STORE
    page, after = await contacts.officials(uow, query.agency, query.after, query.limit)
    return OfficialsPage(officials=[OfficialPublic.of(o) for o in page], next=after)
