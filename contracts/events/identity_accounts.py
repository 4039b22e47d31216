"""Events about accounts, published by the identity service on ``identity.events`` (key: the
account id). They carry ids and kinds, never a personal identifier: a consumer that needs a
person's details asks for them with the person's consent (userinfo), or, for a service that
notifies people, through identity's contacts lookup by account id; not from the event stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.events.base import Event

AccountKindName = Literal["citizen", "enterprise", "official", "admin"]


class AccountRegistered(Event):
    """An account was created: a citizen's registration waiting for its phone code
    (``status`` ``pending``), or an enterprise registered by its legal representative, or a
    fixture (``active``)."""

    TYPE = "identity.account.registered.v1"

    account_id: str = Field(min_length=1, max_length=64)
    kind: AccountKindName
    status: Literal["pending", "active"]
    # For an enterprise: the citizen account of its legal representative.
    legal_representative_id: str | None = Field(default=None, max_length=64)
    registered_at: datetime


class AccountVerified(Event):
    """The account's phone number was proven with a one-time code; the account is active."""

    TYPE = "identity.account.verified.v1"

    account_id: str = Field(min_length=1, max_length=64)
    kind: AccountKindName
    channel: Literal["sms"] = "sms"
    verified_at: datetime


class AccountLocked(Event):
    """The account cannot sign in: ``lockout`` until ``locked_until`` (failed sign-ins; it ends by
    itself, without an unlocked event), ``inactivity`` or ``admin`` until it is unlocked."""

    TYPE = "identity.account.locked.v1"

    account_id: str = Field(min_length=1, max_length=64)
    kind: AccountKindName
    reason: Literal["lockout", "inactivity", "admin"]
    locked_at: datetime
    locked_until: datetime | None = None


class AccountUnlocked(Event):
    """A lock for ``inactivity`` or by an ``admin`` was lifted: by a password reset with a code
    sent to the account's phone, or by an administrator."""

    TYPE = "identity.account.unlocked.v1"

    account_id: str = Field(min_length=1, max_length=64)
    kind: AccountKindName
    reason: Literal["password-reset", "admin"]
    unlocked_at: datetime


class AccountDeleted(Event):
    """The account was closed by its holder or deleted by an administrator: its personal data
    (names, identifiers, phone, e-mail) is erased and it can no longer sign in. A consumer drops
    what it keeps about the account's contact details (caches included)."""

    TYPE = "identity.account.deleted.v1"

    account_id: str = Field(min_length=1, max_length=64)
    kind: AccountKindName
    deleted_at: datetime
