"""The contacts lookup: a notifying service reads an account's phone and e-mail address by the
account id an event carried (``domain.contacts`` says why they do not travel in the events)."""

from __future__ import annotations

from dataclasses import dataclass

from services.kit.errors import ValidationFailed

from ..domain.contacts import MAX_BATCH, MAX_OFFICIALS_PAGE, Contact, NoContact, Official, contact_of
from .unit_of_work import IdentityUnitOfWork


@dataclass(frozen=True, slots=True)
class Lookup:
    """A batch's answer: the contacts found, in the order asked, and the ids without one."""

    contacts: list[Contact]
    missing: list[str]


async def contact(uow: IdentityUnitOfWork, account_id: str) -> Contact:
    """One account's contact details; :class:`NoContact` for an unknown, pending or deleted account."""
    account = await uow.accounts.get(account_id)
    found = contact_of(account) if account is not None else None
    if found is None:
        raise NoContact()
    return found


async def contacts(uow: IdentityUnitOfWork, account_ids: list[str]) -> Lookup:
    """The contact details of up to ``MAX_BATCH`` accounts (an id asked twice is answered once);
    unknown, pending and deleted accounts are listed as missing."""
    wanted = list(dict.fromkeys(account_ids))
    if len(wanted) > MAX_BATCH:
        raise ValidationFailed([{"field": "accounts", "message": f"At most {MAX_BATCH} account ids at a time."}])
    found = {c.account_id: c for a in await uow.accounts.get_many(wanted) if (c := contact_of(a)) is not None}
    return Lookup([found[i] for i in wanted if i in found], [i for i in wanted if i not in found])


async def officials(uow: IdentityUnitOfWork, agencies: list[str], after: str | None,
                    limit: int = MAX_OFFICIALS_PAGE) -> tuple[list[Official], str | None]:  # fmt: skip
    """The active officials of any of ``agencies`` (each with those of its agencies), by account id
    after ``after``; and the cursor of the next page, None on the last."""
    asked = sorted(set(agencies))
    found = await uow.accounts.officials_of(asked, after, min(limit, MAX_OFFICIALS_PAGE) + 1)
    page = [Official(a.id, tuple(c for c in a.agencies if c in asked)) for a in found[:limit]]
    return page, (page[-1].account_id if len(found) > limit else None)
