"""Payment orders: their states, the changes allowed between them, and their references. Pure Python.

An order is what the portal asks a citizen to pay (the fees of a dossier) and what a provider's
callback settles. The rules:

1. **Only the changes in :data:`ALLOWED` happen.** An order is created, then handed to a provider
   (pending) or dropped before that (cancelled, expired, failed). A pending order ends paid
   (succeeded), failed, expired or cancelled.
2. **Finished orders do not move**, with one exception: a succeeded order may be refunded, on
   purpose and never by a callback. Failed, expired, cancelled and refunded orders are final
   without exception. :data:`TERMINAL` is the set of states in which a provider's callback changes
   nothing (succeeded included).
3. **A state to itself is not a change**: asking for it is refused like any other change not in
   the table, so a repeated callback cannot pass unnoticed as a transition.
4. **A reference is safe in every protocol.** The merchant reference goes into VNPay's
   ``vnp_TxnRef``, the VietQR additional data and the description a citizen types into a bank
   transfer, which banks keep, cut or upper-case as they please. So it is only upper-case ASCII
   letters and digits, of one fixed shape: ``DVC`` + the order's date ``yymmdd`` + an 8-digit
   sequence, ``DVC25120300000042`` (17 characters, within every limit: VNPay 100, EMVCo 25).
5. **An order ends unpaid once, and warns once.** Reaching failed (the provider declined) or
   expired (the time ran out) is a change the table allows once, so what is told of it is told
   once (:data:`FAILURE_REASONS`). An open order is warned of its expiry once, when it comes
   within the warning lead time and is still unpaid (:meth:`Order.warn_of_expiry`).
6. **A reference is found in free text** (a bank statement's transfer description) whatever its
   case and whatever is glued before it (``CKDVC…``), but never as the start of a longer number;
   when a text names two different references it names none, since the money cannot be given to
   both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from contracts.assurance import PASSWORD, AcrValue
from services.kit.errors import Conflict, DomainError, NotFound


class OrderState(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


_S = OrderState

ALLOWED: Mapping[OrderState, frozenset[OrderState]] = MappingProxyType(
    {
        _S.CREATED: frozenset({_S.PENDING, _S.CANCELLED, _S.EXPIRED, _S.FAILED}),
        _S.PENDING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.EXPIRED, _S.CANCELLED}),
        # Only an explicit refund leaves a paid order.
        _S.SUCCEEDED: frozenset({_S.REFUNDED}),
        _S.FAILED: frozenset(),
        _S.EXPIRED: frozenset(),
        _S.CANCELLED: frozenset(),
        _S.REFUNDED: frozenset(),
    }
)

TERMINAL: frozenset[OrderState] = frozenset({_S.SUCCEEDED, _S.FAILED, _S.EXPIRED, _S.CANCELLED, _S.REFUNDED})
"""States a provider's callback never changes (a succeeded order leaves only by a refund)."""


class TransitionRefused(Conflict):
    """An order state change the table does not allow; ``current`` and ``target`` are also
    extras (both states)."""

    def __init__(self, current: OrderState, target: OrderState) -> None:
        current, target = OrderState(current), OrderState(target)
        super().__init__(
            f"A payment order that is {current.value} cannot become {target.value}.",
            current=current.value,
            target=target.value,
        )
        self.current = current
        self.target = target


def is_allowed(current: OrderState, target: OrderState) -> bool:
    """True when the table allows ``current`` to become ``target`` (never a state to itself)."""
    return OrderState(target) in ALLOWED[OrderState(current)]


def check_transition(current: OrderState, target: OrderState) -> None:
    """Raise :class:`TransitionRefused` unless ``current`` may become ``target``."""
    if not is_allowed(current, target):
        raise TransitionRefused(current, target)


class Provider(StrEnum):
    VNPAY = "vnpay"
    VIETQR = "vietqr"
    SANDBOX = "sandbox"


#: States in which a dossier has its one order: open or paid (``orders_one_live_per_dossier``).
LIVE: frozenset[OrderState] = frozenset({_S.CREATED, _S.PENDING, _S.SUCCEEDED})
#: States of an order still waiting for its money (the ones that expire).
OPEN: frozenset[OrderState] = frozenset({_S.CREATED, _S.PENDING})
#: States of an order whose money was taken (what a statement lists).
PAID: frozenset[OrderState] = frozenset({_S.SUCCEEDED, _S.REFUNDED})
#: Why an order ended unpaid: the provider said no, or the time to pay ran out.
FailureReason = Literal["declined", "expired"]
#: The states in which an order ended unpaid, and why (what ``payment.order.failed.v1`` says).
FAILURE_REASONS: Mapping[OrderState, FailureReason] = MappingProxyType({_S.FAILED: "declined", _S.EXPIRED: "expired"})
#: Orders are referenced by their day in Vietnam (GMT+7 all year).
VIETNAM_OFFSET = timedelta(hours=7)


def local_day(moment: datetime) -> date:
    """The day in Vietnam at ``moment`` (in UTC): the day of an order made then."""
    return (moment + VIETNAM_OFFSET).date()


class NothingToPay(DomainError):
    """No fees are due for the dossier."""


@dataclass(frozen=True, slots=True)
class FeeLine:
    code: str
    name: str
    amount: int


@dataclass(frozen=True, slots=True)
class Assessment:
    """The fees the dossier service assessed for a dossier (its latest word): the only source of
    an order's amount."""

    dossier_id: str
    dossier_code: str
    owner: str
    agency_code: str
    lines: tuple[FeeLine, ...]
    total: int
    # The level of assurance the dossier's online service requires: its payer signs in at it too.
    required_acr: AcrValue = PASSWORD

    @property
    def adds_up(self) -> bool:
        return sum(line.amount for line in self.lines) == self.total

    def check_payable_by(self, owner: str) -> None:
        """Only the dossier's owner pays it (to anyone else there is no such assessment), and
        only fees above zero."""
        if self.owner != owner:
            raise NotFound("No fees assessed for such a dossier of yours (yet).")
        if self.total <= 0:
            raise NothingToPay("The dossier's assessed fees are zero.")


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of an order's state, as its history keeps it."""

    previous: OrderState | None
    state: OrderState
    source: str  # owner | callback | expiry | reconciliation | operator
    detail: str | None
    at: datetime


@dataclass(slots=True)
class Order:
    """A payment order: what a citizen pays for a dossier, and with which provider. Its state
    changes only through :meth:`move` (the table :data:`ALLOWED`), each change a
    :class:`Transition` the repository records with it."""

    id: str
    reference: str
    dossier_id: str
    dossier_code: str
    owner: str
    provider: Provider
    amount: int
    state: OrderState
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    provider_transaction: str | None = None
    flag: str | None = None  # for review: amount-mismatch, late-payment, ...
    expiry_warned_at: datetime | None = None

    @classmethod
    def open(
        cls, *, id: str, reference: str, assessment: Assessment, owner: str, provider: Provider, now: datetime,
        ttl: timedelta,
    ) -> tuple[Order, list[Transition]]:  # fmt: skip
        """A new order for ``owner``'s assessed fees, handed to ``provider`` at once (pending),
        with the two transitions that say so."""
        assessment.check_payable_by(owner)
        order = cls(
            id=id, reference=reference,
            dossier_id=assessment.dossier_id, dossier_code=assessment.dossier_code, owner=owner, provider=provider,
            amount=assessment.total, state=OrderState.CREATED, created_at=now, expires_at=now + ttl,
        )  # fmt: skip
        created = Transition(None, OrderState.CREATED, "owner", None, now)
        return order, [created, order.move(OrderState.PENDING, source="owner", detail=f"sent to {provider}", at=now)]

    def move(self, target: OrderState, *, source: str, at: datetime, detail: str | None = None) -> Transition:
        """Change the state as the table allows (else :class:`TransitionRefused`); the change made."""
        check_transition(self.state, target)
        transition = Transition(self.state, target, source, detail, at)
        self.state = target
        return transition

    def succeed(self, *, provider_transaction: str | None, paid_at: datetime, source: str, at: datetime) -> Transition:
        """The order is paid (by ``provider_transaction``, at ``paid_at``)."""
        transition = self.move(OrderState.SUCCEEDED, source=source, at=at,
                               detail=f"provider transaction {provider_transaction}")  # fmt: skip
        self.paid_at = paid_at
        self.provider_transaction = provider_transaction
        return transition

    def flag_for_review(self, flag: str) -> None:
        self.flag = flag

    def expires_within(self, now: datetime, lead: timedelta) -> bool:
        """Still open, not warned yet, and expiring after ``now`` but within ``lead`` of it."""
        return self.state in OPEN and self.expiry_warned_at is None and now < self.expires_at <= now + lead

    def warn_of_expiry(self, *, now: datetime, lead: timedelta) -> bool:
        """Mark the order warned when :meth:`expires_within` holds; whether it did (the payer is to
        be told once)."""
        if not self.expires_within(now, lead):
            return False
        self.expiry_warned_at = now
        return True

    @property
    def is_final(self) -> bool:
        """A provider's callback changes nothing any more (:data:`TERMINAL`)."""
        return self.state in TERMINAL


REFERENCE_PREFIX = "DVC"
SEQUENCE_DIGITS = 8
MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1

_REFERENCE = re.compile(r"DVC([0-9]{6})[0-9]{8}")
# In free text: any case, anything before it, but no digit right after (it would be another number).
_REFERENCE_IN_TEXT = re.compile(r"DVC([0-9]{6})[0-9]{8}(?![0-9])", re.IGNORECASE | re.ASCII)


def order_reference(day: date, sequence: int) -> str:
    """The merchant reference of the ``sequence``-th order of ``day`` (the order's date in Vietnam):
    ``DVC`` + ``yymmdd`` + the sequence on 8 digits. ValueError for a sequence that is not a whole
    number from 0 to 99,999,999, for a year outside 2000–2099 (two digits would be ambiguous) and for
    a ``datetime`` (whose date depends on a time zone the caller must choose: pass its local date)."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"An order reference is made from a date (the local date in Vietnam), not {day!r}.")
    if not 2000 <= day.year <= 2099:
        raise ValueError(f"An order reference carries a two-digit year: {day.year} is out of 2000–2099.")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"The sequence is a whole number from 0 to {MAX_SEQUENCE}, not {sequence!r}.")
    return f"{REFERENCE_PREFIX}{day:%y%m%d}{sequence:0{SEQUENCE_DIGITS}d}"


def _valid_day(yymmdd: str) -> bool:
    try:
        date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return False
    return True


def is_order_reference(text: str) -> bool:
    """True when ``text`` is exactly a reference :func:`order_reference` could have made (upper case,
    a real calendar date)."""
    if not isinstance(text, str):
        return False
    match = _REFERENCE.fullmatch(text)
    return match is not None and _valid_day(match.group(1))


def find_order_reference(text: str) -> str | None:
    """The one order reference named in free ``text`` (a transfer description such as
    ``"CK DVC25120300000042 nop phi"``), upper-cased; None when there is none, or when the text names
    two different ones."""
    if not isinstance(text, str):
        return None
    found = {m.group(0).upper() for m in _REFERENCE_IN_TEXT.finditer(text) if _valid_day(m.group(1))}
    return found.pop() if len(found) == 1 else None
