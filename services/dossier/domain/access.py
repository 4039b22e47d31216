"""Who may see and do what with a dossier. Pure Python.

- The owner (the account that filed it) reads it, its timeline, receipt and files, and may
  supplement, withdraw and rate it.
- Officials (scope ``dossier:process``) read the dossiers of the agencies named in their token's
  ``agencies`` claim, and only those.
- Nobody else learns that a dossier exists: a refusal is the same 404 as an unknown id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    subject: str
    official: bool
    agencies: frozenset[str]

    @classmethod
    def of(cls, subject: str, scopes: Iterable[str], claims: Mapping[str, Any]) -> Caller:
        agencies = claims.get("agencies") or []
        official = "dossier:process" in set(scopes)
        return cls(subject, official, frozenset(a for a in agencies if isinstance(a, str)) if official else frozenset())

    def owns(self, dossier: Mapping[str, Any]) -> bool:
        return dossier.get("owner") is not None and dossier["owner"] == self.subject

    def processes(self, dossier: Mapping[str, Any]) -> bool:
        return self.official and dossier.get("agency_code") in self.agencies

    def may_read(self, dossier: Mapping[str, Any]) -> bool:
        return self.owns(dossier) or self.processes(dossier)
