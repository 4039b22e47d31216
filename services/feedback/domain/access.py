"""Who may see and do what with feedback. Pure Python.

- The sender (the account that sent it) reads it, its timeline and files, adds information
  when asked, withdraws it and rates the answer.
- Officials (scope ``feedback:process``) see and handle the feedback of the agencies named in
  their token's ``agencies`` claim, and only those: once transferred away, it is the new
  agency's.
- Nobody else learns that unpublished feedback exists: a refusal is the same 404 as an unknown
  id. Published answers are public, without the sender (``text.redact``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .feedback import Feedback

SEND_SCOPE = "feedback:send"
PROCESS_SCOPE = "feedback:process"


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str
    official: bool
    agencies: frozenset[str]

    @classmethod
    def of(cls, subject: str, scopes: Iterable[str], claims: Mapping[str, object]) -> Caller:
        official = PROCESS_SCOPE in set(scopes)
        agencies = claims.get("agencies")
        named = frozenset(a for a in agencies if isinstance(a, str)) if isinstance(agencies, list) else frozenset()
        return cls(subject, official, named if official else frozenset())

    def sent(self, feedback: Feedback) -> bool:
        return bool(feedback.sender.account) and feedback.sender.account == self.subject

    def handles(self, feedback: Feedback) -> bool:
        return self.official and feedback.agency_code in self.agencies
