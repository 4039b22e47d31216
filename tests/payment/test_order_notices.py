"""What the payment service tells about orders that end unpaid or are about to, on a real
PostgreSQL and real HTTP: ``payment.order.failed.v1`` once per declined or expired order whatever
is replayed, ``payment.order.expiring.v1`` once per open order within the lead time whatever the
runs and workers, nothing for orders outside the window or already paid."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import inspect, select, update

from contracts.events.payment import PaymentExpiring, PaymentFailed, PaymentSucceeded
from services.kit.migrations import downgrade, upgrade
from services.kit.tables import outbox
from services.payment.adapters.tables import orders
from services.payment.app import SERVICE
from services.payment.service import jobs
from services.payment.service.orders import expire_due, warn_expiring
from services.payment.service.unit_of_work import PaymentUnitOfWork, payment_unit
from tests.support.payment import TOTAL, VNPAY_SECRET, Payments, assess, payment_database
from tests.support.payment_protocols import vnpay_ipn

pytestmark = pytest.mark.integration
T = TypeVar("T")
LEAD = timedelta(minutes=5)


async def in_unit(p: Payments, work: Callable[[PaymentUnitOfWork], Awaitable[T]]) -> T:
    db = p.db()
    try:
        async with db.transaction() as uow:
            return await work(payment_unit(uow))
    finally:
        await db.dispose()


async def events(p: Payments, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, data) of the outbox's events of type ``kind``, oldest first."""

    async def read(uow: PaymentUnitOfWork) -> list[tuple[str, dict[str, Any]]]:
        query = select(outbox.c.key, outbox.c.data).where(outbox.c.type == kind).order_by(outbox.c.id)
        return [(row.key, row.data) for row in await uow.connection.execute(query)]

    return await in_unit(p, read)


async def set_expiry(p: Payments, order_id: str, expires_at: datetime) -> None:
    async def write(uow: PaymentUnitOfWork) -> None:
        await uow.connection.execute(update(orders).where(orders.c.id == order_id).values(expires_at=expires_at))

    await in_unit(p, write)


async def run_job(p: Payments, job: Callable[..., Awaitable[None]], settings: Any = None) -> None:
    db = p.db()
    try:
        await job(db, settings or p.settings)
    finally:
        await db.dispose()


async def new_order(p: Payments, api: httpx.AsyncClient, owner: str = "citizen-1") -> dict[str, Any]:
    assessed = await assess(p.db_url, owner)
    answer = await api.post("/orders", headers=p.payer(owner), json={"dossier_id": assessed["dossier_id"],
                                                                      "provider": "vnpay"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def ipn(api: httpx.AsyncClient, params: dict[str, str]) -> str:
    answer = await api.get("/callbacks/vnpay/ipn", params=params)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["RspCode"])


async def test_a_declined_payment_is_told_once_whatever_is_replayed(payments: Payments) -> None:
    declined = {"response_code": "24", "transaction_status": "02"}
    async with payments.client() as api:
        order = await new_order(payments, api, owner="citizen-7")
        params = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL, **declined)
        codes = await asyncio.gather(*(ipn(api, params) for _ in range(8)))
        assert sorted(codes) == ["00"] + ["02"] * 7
        assert await ipn(api, params) == "02"
        paid_late = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL)
        assert await ipn(api, paid_late) == "02"
        state = (await api.get(f"/orders/{order['id']}", headers=payments.payer("citizen-7"))).json()["state"]
    assert state == "failed"
    [(key, data)] = await events(payments, PaymentFailed.TYPE)
    failed = PaymentFailed.model_validate(data)
    assert key == order["id"]
    assert (failed.order_id, failed.dossier_id, failed.dossier_code) == (
        order["id"], order["dossier_id"], order["dossier_code"]
    )  # fmt: skip
    assert (failed.owner, failed.amount, failed.currency, failed.reason) == ("citizen-7", TOTAL, "VND", "declined")
    assert abs((failed.failed_at - datetime.now(UTC)).total_seconds()) < 60
    assert await events(payments, PaymentSucceeded.TYPE) == []


async def test_an_expired_order_is_told_once_across_runs(payments: Payments) -> None:
    async with payments.client() as api:
        first, second = await new_order(payments, api), await new_order(payments, api, owner="citizen-2")
    later = datetime.now(UTC) + timedelta(hours=1)
    await run_job(payments, jobs.expire_orders)  # not due yet: nothing
    assert await events(payments, PaymentFailed.TYPE) == []
    runs = await asyncio.gather(*(in_unit(payments, lambda uow: expire_due(uow, later)) for _ in range(3)))
    assert sum(runs) == 2
    assert await in_unit(payments, lambda uow: expire_due(uow, later + timedelta(hours=1))) == 0
    told = {key: PaymentFailed.model_validate(data) for key, data in await events(payments, PaymentFailed.TYPE)}
    assert sorted(told) == sorted([first["id"], second["id"]]) and len(await events(payments, PaymentFailed.TYPE)) == 2
    assert {(e.reason, e.failed_at) for e in told.values()} == {("expired", later)}
    assert (told[first["id"]].owner, told[second["id"]].owner) == ("citizen-1", "citizen-2")


async def test_the_job_warns_an_order_about_to_expire_once_and_nothing_else(payments: Payments) -> None:
    now = datetime.now(UTC)
    async with payments.client() as api:
        soon, later, paid, past = [await new_order(payments, api) for _ in range(4)]
        paid_ipn = vnpay_ipn(VNPAY_SECRET, txn_ref=paid["reference"], amount_vnd=TOTAL)
        assert await ipn(api, paid_ipn) == "00"
    due = now + timedelta(minutes=2)
    for order, expires_at in ((soon, due), (paid, due), (past, now - timedelta(seconds=5))):
        await set_expiry(payments, order["id"], expires_at)
    # ``later`` keeps its 15 minutes: outside the 5 minutes' lead.
    assert payments.settings.expiry_warning_minutes == 5
    for _ in range(3):
        await run_job(payments, jobs.warn_expiring_orders)
    [(key, data)] = await events(payments, PaymentExpiring.TYPE)
    expiring = PaymentExpiring.model_validate(data)
    assert key == soon["id"]
    assert (expiring.order_id, expiring.dossier_id, expiring.dossier_code, expiring.owner, expiring.amount) == (
        soon["id"], soon["dossier_id"], soon["dossier_code"], "citizen-1", TOTAL
    )  # fmt: skip
    assert expiring.expires_at == due
    warned = await in_unit(payments, lambda uow: uow.orders.get(soon["id"]))
    others = [await in_unit(payments, lambda uow, o=o: uow.orders.get(o["id"])) for o in (later, paid, past)]
    assert warned is not None and warned.expiry_warned_at is not None
    assert [o.expiry_warned_at for o in others if o is not None] == [None, None, None]
    # The order past its time is not warned but expired, and told as such.
    await run_job(payments, jobs.expire_orders)
    [(key, data)] = await events(payments, PaymentFailed.TYPE)
    assert key == past["id"] and data["reason"] == "expired"
    assert len(await events(payments, PaymentSucceeded.TYPE)) == 1


async def test_several_workers_warn_each_order_once(payments: Payments) -> None:
    async with payments.client() as api:
        made = [await new_order(payments, api) for _ in range(12)]
    now = datetime.now(UTC)
    for i, order in enumerate(made):
        await set_expiry(payments, order["id"], now + timedelta(seconds=60 + i))

    async def worker() -> int:
        warned = 0
        for _ in range(20):
            count = await in_unit(payments, lambda uow: warn_expiring(uow, datetime.now(UTC), LEAD, 3))
            warned += count
            if count == 0:
                break
        return warned

    counts = await asyncio.gather(*(worker() for _ in range(4)))
    assert await in_unit(payments, lambda uow: warn_expiring(uow, datetime.now(UTC), LEAD, 100)) == 0
    told = [key for key, _ in await events(payments, PaymentExpiring.TYPE)]
    assert sum(counts) == 12 and sorted(told) == sorted(o["id"] for o in made)


async def test_a_run_of_the_job_warns_its_batches_and_the_next_run_the_rest(payments: Payments) -> None:
    async with payments.client() as api:
        made = [await new_order(payments, api) for _ in range(5)]
    now = datetime.now(UTC)
    for order in made:
        await set_expiry(payments, order["id"], now + timedelta(minutes=3))
    settings = payments.settings.model_copy(update={"expiry_warning_batch": 2, "expiry_warning_batches_per_run": 2})
    seen = []
    for _ in range(3):
        await run_job(payments, jobs.warn_expiring_orders, settings)
        seen.append(len(await events(payments, PaymentExpiring.TYPE)))
    assert seen == [4, 5, 5]


async def test_the_migration_adds_and_removes_the_warning_column(payment_db_url: str) -> None:
    async def columns() -> set[str]:
        db = payment_database(payment_db_url)
        try:
            async with db.transaction() as uow:
                found = await uow.connection.run_sync(lambda c: inspect(c).get_columns("orders"))
        finally:
            await db.dispose()
        return {column["name"] for column in found}

    assert "expiry_warned_at" in await columns()
    await asyncio.to_thread(downgrade, SERVICE.migrations, payment_db_url, "0002")
    assert "expiry_warned_at" not in await columns()
    await asyncio.to_thread(upgrade, SERVICE.migrations, payment_db_url)
    assert "expiry_warned_at" in await columns()
