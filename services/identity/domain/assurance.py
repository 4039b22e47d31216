"""How sure we are of who signed in (the ``acr`` and ``amr`` claims), and what a sign-in yields.

Shared by the account side (who the person is) and the OpenID Connect side (what tokens say).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AccountKind(StrEnum):
    CITIZEN = "citizen"
    ENTERPRISE = "enterprise"
    OFFICIAL = "official"
    ADMIN = "admin"


class Assurance(StrEnum):
    """Levels of assurance, lowest first. Level 2 (verified in person) comes from the national
    e-ID, which marks the account when its owner was verified at a counter."""

    PASSWORD = "urn:portal:acr:password"  # noqa: S105 - a level name, not a password
    SECOND_FACTOR = "urn:portal:acr:mfa"
    IN_PERSON = "urn:portal:acr:in-person"

    @property
    def rank(self) -> int:
        return list(Assurance).index(self)


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: who, how (``amr``, RFC 8176 values such as ``pwd``, ``otp``), when."""

    account_id: str
    kind: AccountKind
    acr: Assurance
    amr: tuple[str, ...]
    auth_time: datetime
    # Agency codes an official may act for; empty for citizens and enterprises.
    agencies: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
