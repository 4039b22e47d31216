"""A push and its answer: the agency client that pushes, each record's result, the batch as it
is kept for the client to read again. Pure Python.

A batch is answered record by record (``accepted``, ``duplicate``, ``stale``, ``rejected``, the
last with every refused field); the answers are kept, in push order, with a summary of the
counts. Only the client that pushed a batch may read it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from .dossiers import Outcome
from .records import DOSSIER_SYNC, PROGRESS_UPDATE, RecordError

PORTAL: Final = "portal"
Format = Literal["portal", "DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
"""The format of a push: the portal's JSON, or one of the provinces' services."""
FORMATS: tuple[str, ...] = (PORTAL, DOSSIER_SYNC, PROGRESS_UPDATE)


@dataclass(frozen=True, slots=True)
class AgencyClient:
    """A machine client of an agency system: its id and the agencies it may push for."""

    client_id: str
    agencies: frozenset[str]

    def owns(self, batch: Batch) -> bool:
        return batch.client_id == self.client_id


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The answer to one pushed record (``index``: its position in the push)."""

    index: int
    outcome: Outcome
    record_id: str | None = None
    dossier_code: str | None = None
    errors: tuple[RecordError, ...] = ()

    @classmethod
    def rejected(cls, index: int, errors: Sequence[RecordError]) -> RecordResult:
        return cls(index, "rejected", errors=tuple(errors))


@dataclass(slots=True)
class Summary:
    """How many records of a batch had each outcome."""

    accepted: int = 0
    duplicate: int = 0
    stale: int = 0
    rejected: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass(slots=True)
class Batch:
    """One push as it is kept: who pushed it in which format, and every record's answer."""

    id: str
    client_id: str
    format: Format
    summary: Summary = field(default_factory=Summary)
    results: list[RecordResult] = field(default_factory=list)
    received_at: datetime | None = None

    @property
    def records(self) -> int:
        return len(self.results)

    def answer(self, result: RecordResult) -> None:
        """Record the answer to the next record."""
        self.results.append(result)
        self.summary.count(result.outcome)
