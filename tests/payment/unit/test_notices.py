"""The rules behind the payment service's failed and expiring events, without a database: which
order is warned of its expiry, the limits of the warning settings, and the events' contracts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded
from services.payment.domain.orders import FAILURE_REASONS, Order, OrderState, Provider
from services.payment.settings import PaymentSettings
from tests.payment.unit.conftest import NOWHERE

NOW = datetime(2025, 12, 3, 9, 0, tzinfo=UTC)
LEAD = timedelta(minutes=5)


def order(state: OrderState = OrderState.PENDING, expires_in: timedelta = timedelta(minutes=3)) -> Order:
    return Order(id="o-1", reference="DVC25120300000001", dossier_id="d-1", dossier_code="c-1", owner="citizen-1",
                 provider=Provider.VNPAY, amount=250_000, state=state, created_at=NOW - timedelta(minutes=10),
                 expires_at=NOW + expires_in)  # fmt: skip


@pytest.mark.parametrize("state", [OrderState.CREATED, OrderState.PENDING])
def test_an_open_order_within_the_lead_is_warned_once(state: OrderState) -> None:
    unpaid = order(state)
    assert unpaid.warn_of_expiry(now=NOW, lead=LEAD) and unpaid.expiry_warned_at == NOW
    assert not unpaid.warn_of_expiry(now=NOW + timedelta(seconds=30), lead=LEAD)
    assert unpaid.expiry_warned_at == NOW


@pytest.mark.parametrize(
    ("state", "expires_in", "warned"),
    [
        (OrderState.PENDING, LEAD, True),  # the edge of the window is in it
        (OrderState.PENDING, LEAD + timedelta(seconds=1), False),  # too early
        (OrderState.PENDING, timedelta(0), False),  # expiring now: it expires, unwarned
        (OrderState.PENDING, -timedelta(minutes=1), False),
        (OrderState.SUCCEEDED, timedelta(minutes=1), False),
        (OrderState.FAILED, timedelta(minutes=1), False),
        (OrderState.EXPIRED, timedelta(minutes=1), False),
        (OrderState.CANCELLED, timedelta(minutes=1), False),
        (OrderState.REFUNDED, timedelta(minutes=1), False),
    ],
)
def test_only_open_orders_inside_the_window_are_warned(state: OrderState, expires_in: timedelta, warned: bool) -> None:
    candidate = order(state, expires_in)
    assert candidate.warn_of_expiry(now=NOW, lead=LEAD) is warned
    assert (candidate.expiry_warned_at is not None) is warned


def test_only_failed_and_expired_orders_end_unpaid() -> None:
    assert dict(FAILURE_REASONS) == {OrderState.FAILED: "declined", OrderState.EXPIRED: "expired"}


def settings(**values: Any) -> PaymentSettings:
    return PaymentSettings(**NOWHERE, environment="test", **values)


def test_the_warning_lead_is_bounded_and_shorter_than_an_orders_life() -> None:
    assert settings().expiry_warning_minutes == 5
    assert settings(expiry_warning_minutes=1).expiry_warning_minutes == 1
    assert settings(expiry_warning_minutes=720, order_ttl_seconds=24 * 3600).expiry_warning_minutes == 720
    assert settings(expiry_warning_minutes=14, order_ttl_seconds=900).expiry_warning_minutes == 14
    for refused in ({"expiry_warning_minutes": 0}, {"expiry_warning_minutes": 721, "order_ttl_seconds": 24 * 3600},
                    {"expiry_warning_minutes": 15, "order_ttl_seconds": 900},
                    {"expiry_warning_minutes": 1, "order_ttl_seconds": 60}):  # fmt: skip
        with pytest.raises(ValidationError):
            settings(**refused)


def test_the_warning_jobs_batches_are_bounded() -> None:
    assert (settings().expiry_warning_batch, settings().expiry_warning_batches_per_run) == (200, 25)
    assert settings(expiry_warning_batch=1000, expiry_warning_batches_per_run=1000).expiry_warning_batch == 1000
    for refused in ({"expiry_warning_batch": 0}, {"expiry_warning_batch": 1001},
                    {"expiry_warning_batches_per_run": 0}, {"expiry_warning_batches_per_run": 1001}):  # fmt: skip
        with pytest.raises(ValidationError):
            settings(**refused)


def test_the_warning_lead_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_EXPIRY_WARNING_MINUTES", "10")
    assert settings().expiry_warning_minutes == 10


COMMON = {"order_id": "o-1", "dossier_id": "d-1", "dossier_code": "c-1", "amount": 250_000, "currency": "VND"}


def test_a_succeeded_event_without_an_owner_still_validates() -> None:
    old = {**COMMON, "provider": "vnpay", "receipt_number": "BL-1", "paid_at": NOW.isoformat()}
    assert PaymentSucceeded.model_validate(old).owner is None
    assert PaymentSucceeded.model_validate({**old, "owner": "citizen-1"}).owner == "citizen-1"


def test_the_failed_and_expiring_events_name_the_owner_and_refuse_what_they_do_not_know() -> None:
    failed = {**COMMON, "owner": "citizen-1", "reason": "declined", "failed_at": NOW.isoformat()}
    assert PaymentFailed.model_validate(failed).reason == "declined"
    expiring = {**COMMON, "owner": "citizen-1", "expires_at": NOW.isoformat()}
    assert PaymentExpiring.model_validate(expiring).expires_at == NOW
    for bad in ({**failed, "reason": "cancelled"}, {k: v for k, v in failed.items() if k != "owner"},
                {**failed, "failed_at": "2025-12-03T09:00:00"}, {**failed, "amount": -1}):  # fmt: skip
        with pytest.raises(ValidationError):
            PaymentFailed.model_validate(bad)
    for bad in ({k: v for k, v in expiring.items() if k != "owner"}, {**expiring, "phone": "0901234567"}):
        with pytest.raises(ValidationError):
            PaymentExpiring.model_validate(bad)
