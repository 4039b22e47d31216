"""Contact details (số điện thoại, thư điện tử) that identity gives to the services that notify
people, looked up by account id.

The notification service asks for them when it sends, by the account id the events carry, and
keeps them only briefly: phone numbers and e-mail addresses never travel through Kafka, and an
account's deletion takes them away at the source.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kit.errors import NotFound

from .accounts import Account, AccountStatus

# Ids in one batch lookup: a notification batch's recipients, bounded so one request stays small.
MAX_BATCH = 100
# The scope of a machine client that may read contact details (and who acts for an agency).
CONTACTS_SCOPE = "identity:contacts"
# The officials lookup: agencies asked at once, and officials in one page.
MAX_AGENCIES = 50
MAX_OFFICIALS_PAGE = 500

# Accounts whose contact details are given. A pending registration has no proven phone yet and is
# not an account; a deleted one has none left. A locked or disabled account is still told what
# happens to its dossiers and payments.
_ANSWERED = frozenset({AccountStatus.ACTIVE, AccountStatus.LOCKED, AccountStatus.DISABLED})


@dataclass(frozen=True, slots=True)
class Contact:
    account_id: str
    kind: str
    phone: str | None
    phone_verified: bool
    email: str | None
    email_verified: bool
    preferred_language: str | None = None  # identity records none yet

    def __repr__(self) -> str:  # never the phone or the e-mail address, in a log or a traceback
        return f"Contact(account_id={self.account_id!r}, kind={self.kind!r})"


class NoContact(NotFound):
    """No account with this id has contact details to give: unknown, not yet verified, or deleted.
    Answered ``no-store``, as the contacts are."""

    def __init__(self) -> None:
        super().__init__("There is no account with this id.")


def contact_of(account: Account) -> Contact | None:
    """The account's contact details, or None when it has none to give (pending, deleted)."""
    if account.status not in _ANSWERED:
        return None
    return Contact(
        account_id=account.id, kind=account.kind.value, phone=account.phone, phone_verified=account.phone_verified,
        email=account.email, email_verified=account.email_verified,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Official:
    """An active official and the agencies asked for that they act for (ids and codes only: their
    contact details come from the contacts lookup, as anyone's)."""

    account_id: str
    agencies: tuple[str, ...]
