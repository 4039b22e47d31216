"""The life of a dossier: its status codes and the changes allowed between them. Pure Python.

The codes are the ones the provincial one-stop systems already use when they synchronise with
the portal (``TrangThaiHoSo``), so a status travels between systems as its number. The rules:

1. **Only the changes in :data:`ALLOWED` happen.** A dossier is registered (1), then the agency
   accepts it (2) or refuses it (3); it may ask for missing documents (5) or for fees and
   obligations to be paid (6) before or while processing (4); processing ends with a result (9)
   that is then handed over (10), or is stopped (8).
2. **A withdrawal is a request, not an outcome.** The citizen asks (7) from any status before
   the result exists; the agency then either stops processing (8) or declines and resumes where
   it stands (2, 4, 5 or 6). Once processed (9) the result exists and is handed over instead.
3. **Finished dossiers do not move.** Not accepted (3), stopped (8) and result returned (10)
   are terminal: nothing leaves them.
4. **A status to itself is not a change**: asking for it is refused like any other change not
   in the table, so a repeated command cannot pass unnoticed as a transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType

from services.kit.errors import Conflict


class DossierStatus(IntEnum):
    NEW = 1
    ACCEPTED = 2
    NOT_ACCEPTED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    PAYMENT_REQUESTED = 6
    WITHDRAWAL_REQUESTED = 7
    STOPPED = 8
    PROCESSED = 9
    RESULT_RETURNED = 10

    @property
    def label_vi(self) -> str:
        return _LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LABELS[self][1]


_LABELS: dict[DossierStatus, tuple[str, str]] = {
    DossierStatus.NEW: ("Mới đăng ký", "Newly registered"),
    DossierStatus.ACCEPTED: ("Được tiếp nhận", "Accepted"),
    DossierStatus.NOT_ACCEPTED: ("Không được tiếp nhận", "Not accepted"),
    DossierStatus.PROCESSING: ("Đang xử lý", "In processing"),
    DossierStatus.SUPPLEMENT_REQUESTED: ("Yêu cầu bổ sung giấy tờ", "Supplement requested"),
    DossierStatus.PAYMENT_REQUESTED: ("Yêu cầu thực hiện nghĩa vụ tài chính", "Payment of obligations requested"),
    DossierStatus.WITHDRAWAL_REQUESTED: ("Công dân yêu cầu rút hồ sơ", "Withdrawal requested by the citizen"),
    DossierStatus.STOPPED: ("Dừng xử lý", "Processing stopped"),
    DossierStatus.PROCESSED: ("Đã xử lý xong", "Processed"),
    DossierStatus.RESULT_RETURNED: ("Đã trả kết quả", "Result returned"),
}

_S = DossierStatus

FINISHED: frozenset[DossierStatus] = frozenset({_S.NOT_ACCEPTED, _S.STOPPED, _S.RESULT_RETURNED})

ALLOWED: Mapping[DossierStatus, frozenset[DossierStatus]] = MappingProxyType(
    {
        _S.NEW: frozenset(
            {_S.ACCEPTED, _S.NOT_ACCEPTED, _S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED, _S.WITHDRAWAL_REQUESTED}
        ),
        _S.ACCEPTED: frozenset(
            {
                _S.PROCESSING,
                _S.SUPPLEMENT_REQUESTED,
                _S.PAYMENT_REQUESTED,
                _S.WITHDRAWAL_REQUESTED,
                _S.STOPPED,
                _S.PROCESSED,
            }
        ),
        _S.NOT_ACCEPTED: frozenset(),
        _S.PROCESSING: frozenset(
            {_S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED, _S.WITHDRAWAL_REQUESTED, _S.STOPPED, _S.PROCESSED}
        ),
        _S.SUPPLEMENT_REQUESTED: frozenset({_S.PROCESSING, _S.NOT_ACCEPTED, _S.WITHDRAWAL_REQUESTED, _S.STOPPED}),
        _S.PAYMENT_REQUESTED: frozenset({_S.PROCESSING, _S.WITHDRAWAL_REQUESTED, _S.STOPPED}),
        # The agency stops processing, or declines the withdrawal and resumes.
        _S.WITHDRAWAL_REQUESTED: frozenset(
            {_S.STOPPED, _S.ACCEPTED, _S.PROCESSING, _S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED}
        ),
        _S.STOPPED: frozenset(),
        _S.PROCESSED: frozenset({_S.RESULT_RETURNED}),
        _S.RESULT_RETURNED: frozenset(),
    }
)


class TransitionRefused(Conflict):
    """A status change the state machine does not allow; the problem body carries both codes."""

    type, title = "transition-refused", "Status change not allowed"

    def __init__(self, current: DossierStatus, target: DossierStatus) -> None:
        current, target = DossierStatus(current), DossierStatus(target)
        super().__init__(
            f"A dossier in status {int(current)} ({current.label_en}) cannot move to status "
            f"{int(target)} ({target.label_en}).",
            current=int(current),
            target=int(target),
        )
        self.current = current
        self.target = target


def is_allowed(current: DossierStatus, target: DossierStatus) -> bool:
    """True when the table allows ``current`` to become ``target`` (never a status to itself)."""
    return target in ALLOWED[current]


def check_transition(current: DossierStatus, target: DossierStatus) -> None:
    """Raise :class:`TransitionRefused` unless ``current`` may become ``target``."""
    if not is_allowed(current, target):
        raise TransitionRefused(current, target)


def may_withdraw(status: DossierStatus) -> bool:
    """True when the citizen may ask to withdraw a dossier in ``status``: it is not finished, no
    withdrawal is pending already, and no result exists yet (processed)."""
    return status not in FINISHED and status not in (_S.WITHDRAWAL_REQUESTED, _S.PROCESSED)


def may_rate(status: DossierStatus) -> bool:
    """True when the citizen may rate the service: only once the result has been returned."""
    return status == _S.RESULT_RETURNED


def accepts_supplement(status: DossierStatus) -> bool:
    """True when the citizen may send the documents asked for: only while they are asked for."""
    return status == _S.SUPPLEMENT_REQUESTED
