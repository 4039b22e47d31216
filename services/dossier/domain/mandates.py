"""Acting for an enterprise under a mandate (identity's ``docs/mandates.md``), as the dossier
service sees it: a token's ``entity`` claim names the enterprise, the mandate and its roles; the
service accepts it only while its own read model (fed by identity's mandate events) holds the
mandate active, for this person and this enterprise, with the role the call needs. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.kit.errors import Forbidden

READ = "read"  # see the enterprise's dossiers
SUBMIT = "submit"  # file, supplement, withdraw and rate them


@dataclass(frozen=True, slots=True)
class Acting:
    """The person (``person``, the token's ``sub``) acting for the enterprise ``enterprise``."""

    person: str
    enterprise: str
    mandate_id: str

    @classmethod
    def of(cls, person: str, claims: Mapping[str, Any]) -> Acting | None:
        """From the token's ``entity`` claim; None when the token acts for nobody. A malformed
        claim is refused rather than ignored (it would make the person act for themselves)."""
        entity = claims.get("entity")
        if entity is None:
            return None
        if not isinstance(entity, Mapping):
            raise MandateRefused()
        enterprise, mandate_id = entity.get("account_id"), entity.get("mandate_id")
        if not (isinstance(enterprise, str) and enterprise and isinstance(mandate_id, str) and mandate_id):
            raise MandateRefused()
        return cls(person, enterprise, mandate_id)


@dataclass(frozen=True, slots=True)
class MandateView:
    """A mandate as identity's events told it."""

    id: str
    enterprise_id: str
    representative_id: str
    roles: tuple[str, ...]
    granted_at: datetime | None
    revoked_at: datetime | None = None

    def allows(self, acting: Acting, role: str) -> bool:
        return (
            self.revoked_at is None
            and self.granted_at is not None
            and self.enterprise_id == acting.enterprise
            and self.representative_id == acting.person
            and role in self.roles
        )


class MandateRefused(Forbidden):
    """The token acts for an enterprise under a mandate that is revoked, unknown here yet, or
    without the role this call needs."""

    def __init__(self) -> None:
        super().__init__("The mandate this token acts under is not active here, or lacks the role this call needs.")
