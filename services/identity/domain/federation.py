"""Federation with the national e-ID (định danh điện tử, VNeID; Decree 69/2024/ND-CP): who the
e-ID says signed in, how that maps to our levels of assurance, and the link between an e-ID
account and a portal account.

Pure rules; the service layer talks to the e-ID and stores links.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.kit.errors import Conflict, DomainError, Forbidden, NotFound, RecordedRefusal, ServiceUnavailable

from .assurance import AccountKind, Assurance

# The e-ID's ``acr`` values (its two levels of electronic identification accounts).
EID_LEVEL_1 = "urn:vn:eid:level1"
EID_LEVEL_2 = "urn:vn:eid:level2"

# Level 2 is issued with the chip ID card, checked in person: our top level. Level 1 is opened in
# the VNeID app (identifier, phone and face photo checked against the population database) and
# used on the phone the app is registered on, unlocked by a PIN or biometrics: a possession
# factor plus a knowledge or inherence factor, so a second-factor sign-in by our scale. It is not
# in-person: nobody checked the card against the face.
LEVEL_ASSURANCE: dict[str, Assurance] = {EID_LEVEL_1: Assurance.SECOND_FACTOR, EID_LEVEL_2: Assurance.IN_PERSON}
# RFC 8176 method values we pass on from what the e-ID reports; anything else is dropped.
PASSED_ON_AMR = ("pwd", "pin", "otp", "sms", "hwk", "swk", "face", "fpt", "user", "mfa", "mca")
# What every federated sign-in says: the e-ID authenticated the person, not us.
FEDERATED_AMR = "fed"


class EidUnavailable(ServiceUnavailable):
    """The national e-ID does not answer, answers too slowly, or answers an error of its own."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, retry_after_seconds=30)


class EidAnswerRefused(DomainError):
    """What the e-ID answered cannot be trusted (a bad signature, a wrong issuer, audience or
    nonce, a missing identifier): the sign-in stops."""


class EidSignInExpired(DomainError):
    """The callback names no sign-in this browser started, or one that is over (used, expired)."""


class EidDeclined(DomainError):
    """The person (or the e-ID) ended the sign-in there: cancelled, or not at the level asked.
    ``request`` is the portal's authorization request it was for, so that its client is told."""

    def __init__(self, detail: str, request: dict[str, str]) -> None:
        super().__init__(detail)
        self.request = request


class IdentifierMismatch(RecordedRefusal, Conflict):
    """The e-ID account is linked to a portal account, but the e-ID now says another identifier
    (or the portal account holding the identifier is linked to another e-ID account): refused,
    never merged."""


class NotLinked(NotFound):
    """The account has no e-ID link to remove."""


class PasswordSignInNotAllowed(RecordedRefusal, Forbidden):
    """Citizens and enterprises sign in through the national e-ID in this deployment."""

    def __init__(self) -> None:
        super().__init__("Citizens and enterprises sign in with the national e-ID (VNeID).")


class EidKind(StrEnum):
    CITIZEN = "citizen"
    ORGANISATION = "organisation"

    @property
    def account_kind(self) -> AccountKind:
        return AccountKind.CITIZEN if self is EidKind.CITIZEN else AccountKind.ENTERPRISE


@dataclass(frozen=True)
class EidIdentity:
    """Who the e-ID says signed in, from its verified ID token."""

    subject: str  # the e-ID's stable id of the account
    kind: EidKind
    identifier: str  # the 12-digit personal identification number, or the tax code
    acr: str  # EID_LEVEL_1 | EID_LEVEL_2
    amr: tuple[str, ...]
    auth_time: datetime
    name: str
    birthdate: str | None = None
    phone: str | None = None

    @property
    def assurance(self) -> Assurance:
        return LEVEL_ASSURANCE[self.acr]

    @property
    def portal_amr(self) -> tuple[str, ...]:
        """``fed`` and the methods the e-ID reports (RFC 8176), true to what happened."""
        return (FEDERATED_AMR, *[m for m in self.amr if m in PASSED_ON_AMR])


@dataclass(frozen=True)
class EidLink:
    """A portal account linked to an e-ID account (one each way)."""

    account_id: str
    subject: str
    linked_at: datetime


class LinkAction(StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"
    REFUSED = "refused"


@dataclass(frozen=True)
class LinkEvent:
    """One line of the link audit: who did what to which account, never an identifier in clear."""

    account_id: str | None
    action: LinkAction
    reason: str
    actor: str  # "eid" (a sign-in), "holder", or "operator:<subject>"
    subject_masked: str
    at: datetime


def holds_identifier(kind: AccountKind, personal_id: str | None, tax_code: str | None, identity: EidIdentity) -> bool:
    """True when a portal account of ``kind`` with these identifiers is the one the e-ID names."""
    if kind is not identity.kind.account_kind:
        return False
    held = personal_id if identity.kind is EidKind.CITIZEN else tax_code
    return held == identity.identifier


@dataclass(frozen=True)
class PendingEidSignIn:
    """A sign-in sent to the e-ID and not yet back: the portal's own authorization request,
    carried through it, bound to the browser that started it. Only hashes of the ``state`` and of
    the browser's cookie are kept."""

    state_hash: str
    browser_hash: str
    request: dict[str, str]
    expires_at: datetime
