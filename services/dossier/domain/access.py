"""Who may see and do what with a dossier. Pure Python.

- The owner (the account that filed it) reads it, its timeline, receipt and files, and may
  supplement, withdraw and rate it.
- A dossier mirrored from an agency's system has no owner account: the person or enterprise
  it was filed for reads it when their token's ``applicant_key`` (a pseudonym of their
  identifier) is the dossier's.
- Officials (scope ``dossier:process``) read the dossiers of the agencies named in their token's
  ``agencies`` claim, and only those.
- A person acting for an enterprise (a token with an ``entity`` claim, ``domain.mandates``) is
  the enterprise here: its dossiers are the enterprise's, seen by each of its representatives
  with ``read``; the timeline records the person and the enterprise (:attr:`Caller.actor`).
- Nobody else learns that a dossier exists: a refusal is the same 404 as an unknown id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .dossier import Dossier
from .mandates import Acting


@dataclass(frozen=True)
class Caller:
    subject: str
    official: bool
    agencies: frozenset[str]
    applicant_key: str | None = None
    # How and when the caller signed in (the token's ``acr`` and ``auth_time``), as the token says:
    # a submission is judged against the level its online service requires.
    acr: str | None = None
    auth_time: float | None = None
    # Acting for an enterprise under a mandate: ``subject`` is then the enterprise's account.
    acting: Acting | None = None

    @classmethod
    def of(cls, subject: str, scopes: Iterable[str], claims: Mapping[str, Any]) -> Caller:
        agencies = claims.get("agencies") or []
        official = "dossier:process" in set(scopes)
        key = claims.get("applicant_key")
        acr, auth_time = claims.get("acr"), claims.get("auth_time")
        acting = None if official else Acting.of(subject, claims)
        return cls(
            acting.enterprise if acting is not None else subject,
            official,
            frozenset(a for a in agencies if isinstance(a, str)) if official else frozenset(),
            key if isinstance(key, str) and key else None,
            acr if isinstance(acr, str) else None,
            float(auth_time) if isinstance(auth_time, int | float) and not isinstance(auth_time, bool) else None,
            acting,
        )

    @property
    def actor(self) -> str:
        """Who acted, for the timeline: the account, or the person and the enterprise they acted for."""
        if self.acting is None:
            return self.subject
        return f"{self.acting.person} for {self.acting.enterprise}"

    def owns(self, dossier: Dossier) -> bool:
        return dossier.owned_by(self.subject)

    def filed_for(self, dossier: Dossier) -> bool:
        """A mirrored dossier of this person or enterprise."""
        return dossier.filed_for(self.applicant_key)

    def processes(self, dossier: Dossier) -> bool:
        return self.official and dossier.agency_code in self.agencies

    def may_read(self, dossier: Dossier) -> bool:
        return self.owns(dossier) or self.filed_for(dossier) or self.processes(dossier)
