"""The life of a dossier: its status codes and the changes allowed between them. Pure Python.

The codes are the ones the provincial one-stop systems already use when they synchronise with
the portal (``TrangThaiHoSo``), so a status travels between systems as its number. The table
and its rules are the contract ``contracts.statuses`` (the sync service answers agencies by the
same table): only the changes in :data:`ALLOWED` happen; a withdrawal (7) is a request the
agency answers; finished dossiers (3, 8, 10) do not move; and **a status to itself is not a
change**: a command (the owner's, a payment's) asking for it is refused by
:func:`check_transition`, while an agency's record of the current status is a progress note
(:func:`report_applies`): on the timeline, no status event.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType

from contracts import statuses
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

FINISHED: frozenset[DossierStatus] = frozenset(DossierStatus(s) for s in statuses.FINISHED)

ALLOWED: Mapping[DossierStatus, frozenset[DossierStatus]] = MappingProxyType(
    {DossierStatus(k): frozenset(DossierStatus(t) for t in v) for k, v in statuses.ALLOWED.items()}
)


class TransitionRefused(Conflict):
    """A status change the state machine does not allow; ``current`` and ``target`` are also
    extras (both codes)."""

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


def report_applies(current: DossierStatus, target: DossierStatus) -> bool:
    """True when an agency's record of ``target`` applies to a dossier in ``current``: an allowed
    change, or a progress note (``target`` is ``current``)."""
    return statuses.report_applies(int(current), int(target))


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
