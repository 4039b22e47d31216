"""Enterprise mandates (ủy quyền đại diện doanh nghiệp): a citizen authorised to act for an
enterprise, with a few roles. The enterprise's legal representative grants and revokes them (or
a representative holding ``manage``); a revoked mandate is kept, with who revoked it and when.

Pure rules; the service layer loads and stores mandates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.kit.errors import Conflict, NotFound

from .accounts import Account
from .assurance import AccountKind

# Active mandates of one enterprise: a company's authorised staff, bounded so a list stays one page
# and a mistaken or hostile script cannot grow it without end.
MAX_ACTIVE_PER_ENTERPRISE = 50
# Mandates listed at once (active and revoked, newest first).
MAX_LISTED = 200


class MandateRole(StrEnum):
    """What a representative may do for the enterprise: a closed set."""

    READ = "read"  # see the enterprise's dossiers and payments
    SUBMIT = "submit"  # file and supplement dossiers in its name
    PAY = "pay"  # pay fees in its name
    MANAGE = "manage"  # see, grant and revoke the enterprise's mandates


ROLE_ORDER = tuple(MandateRole)
# The API scopes a token acting for an enterprise may carry, by the mandate's roles: a role the
# mandate lacks takes its scopes out of the token, and scopes no role names (a person's own
# feedback, notifications) are not given when acting for an enterprise.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    MandateRole.READ: frozenset({"dossier:read"}),
    MandateRole.SUBMIT: frozenset({"dossier:submit"}),
    MandateRole.PAY: frozenset({"payment:pay"}),
    MandateRole.MANAGE: frozenset(),
}


def normalise_roles(roles: list[str]) -> tuple[str, ...]:
    """The roles, deduplicated in the closed set's order (unknown ones are refused by the schema)."""
    wanted = set(roles)
    return tuple(r.value for r in ROLE_ORDER if r.value in wanted)


@dataclass(slots=True, kw_only=True)
class Mandate:
    id: str
    enterprise_id: str
    representative_id: str
    roles: tuple[str, ...]
    granted_by: str
    granted_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def api_scopes(self) -> frozenset[str]:
        """The API scopes its roles allow a token acting under it."""
        return frozenset().union(*(ROLE_SCOPES.get(role, frozenset()) for role in self.roles))

    def allows(self, role: MandateRole) -> bool:
        return self.active and role.value in self.roles

    def revoke(self, by: str, now: datetime) -> None:
        if not self.active:
            raise MandateAlreadyRevoked()
        self.revoked_by, self.revoked_at = by, now


class NoSuchEnterprise(NotFound):
    """No enterprise of this tax code whose mandates the caller may see: unknown and not-yours read
    alike, so the answer tells nobody which enterprises exist."""

    def __init__(self) -> None:
        super().__init__("There is no enterprise of this tax code whose mandates you manage.")


class NoSuchMandate(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no mandate of this id for this enterprise.")


class MandateAlreadyRevoked(Conflict):
    def __init__(self) -> None:
        super().__init__("This mandate is already revoked.")


class AlreadyMandated(Conflict):
    def __init__(self) -> None:
        super().__init__("This person already holds an active mandate for the enterprise; revoke it first.")


class TooManyMandates(Conflict):
    def __init__(self) -> None:
        super().__init__(f"An enterprise has at most {MAX_ACTIVE_PER_ENTERPRISE} active mandates.")


class NotARepresentative(NotFound):
    """The person to mandate is not an active citizen account."""

    def __init__(self) -> None:
        super().__init__("There is no active citizen account with this personal identification number.")


def is_legal_representative(enterprise: Account, account_id: str) -> bool:
    """The enterprise's own account (signed in with its tax code) or its registered legal
    representative: who may manage its mandates without holding one."""
    if enterprise.kind is not AccountKind.ENTERPRISE:
        return False
    return account_id in (enterprise.id, enterprise.legal_representative_id)


def may_manage(enterprise: Account, account_id: str, held: Mandate | None) -> bool:
    """The legal representative, or a representative whose active mandate has ``manage``."""
    return is_legal_representative(enterprise, account_id) or (
        held is not None and held.representative_id == account_id and held.allows(MandateRole.MANAGE)
    )
