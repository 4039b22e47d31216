"""The national dossier status set (1-10) and the changes allowed between them: a contract
between the portal and every agency system, so the sync service (which answers a pushed
record) and the dossier service (which applies it) judge a status record by one table.

1. **Only the changes in :data:`ALLOWED` happen.** A dossier is registered (1), then the agency
   accepts it (2) or refuses it (3); it may ask for missing documents (5) or for fees and
   obligations to be paid (6) before or while processing (4); processing ends with a result (9)
   that is then handed over (10), or is stopped (8).
2. **A withdrawal is a request, not an outcome.** The citizen asks (7) from any status before
   the result exists; the agency then either stops processing (8) or declines and resumes where
   it stands (2, 4, 5 or 6). Once processed (9) the result exists and is handed over instead.
3. **Finished dossiers do not move.** Not accepted (3), stopped (8) and result returned (10)
   are terminal: nothing leaves them.
4. **A status to itself is not a change.** A command (the citizen's, an official's) that asks
   for the status the dossier already has is refused like any change not in the table. An
   agency's record of the status the dossier already has is a *progress note* (provincial
   systems send ``CapNhatTienDoHoSoMC`` entries at every step inside one status): it is
   accepted, goes on the timeline, and changes nothing else (no status event). That holds in
   every status, finished ones included.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

NEW, ACCEPTED, NOT_ACCEPTED, PROCESSING, SUPPLEMENT_REQUESTED = 1, 2, 3, 4, 5
PAYMENT_REQUESTED, WITHDRAWAL_REQUESTED, STOPPED, PROCESSED, RESULT_RETURNED = 6, 7, 8, 9, 10

FINISHED: frozenset[int] = frozenset({NOT_ACCEPTED, STOPPED, RESULT_RETURNED})

ALLOWED: Mapping[int, frozenset[int]] = MappingProxyType(
    {
        NEW: frozenset({ACCEPTED, NOT_ACCEPTED, SUPPLEMENT_REQUESTED, PAYMENT_REQUESTED, WITHDRAWAL_REQUESTED}),
        ACCEPTED: frozenset(
            {PROCESSING, SUPPLEMENT_REQUESTED, PAYMENT_REQUESTED, WITHDRAWAL_REQUESTED, STOPPED, PROCESSED}
        ),
        NOT_ACCEPTED: frozenset(),
        PROCESSING: frozenset({SUPPLEMENT_REQUESTED, PAYMENT_REQUESTED, WITHDRAWAL_REQUESTED, STOPPED, PROCESSED}),
        SUPPLEMENT_REQUESTED: frozenset({PROCESSING, NOT_ACCEPTED, WITHDRAWAL_REQUESTED, STOPPED}),
        PAYMENT_REQUESTED: frozenset({PROCESSING, WITHDRAWAL_REQUESTED, STOPPED}),
        # The agency stops processing, or declines the withdrawal and resumes.
        WITHDRAWAL_REQUESTED: frozenset({STOPPED, ACCEPTED, PROCESSING, SUPPLEMENT_REQUESTED, PAYMENT_REQUESTED}),
        STOPPED: frozenset(),
        PROCESSED: frozenset({RESULT_RETURNED}),
        RESULT_RETURNED: frozenset(),
    }
)


def is_allowed(current: int, target: int) -> bool:
    """True when the table allows ``current`` to become ``target`` (never a status to itself)."""
    return target in ALLOWED[current]


def report_applies(current: int, target: int) -> bool:
    """True when an agency's record of ``target`` applies to a dossier in ``current``: an
    allowed change, or a progress note (the same status; rule 4)."""
    return target == current or is_allowed(current, target)
