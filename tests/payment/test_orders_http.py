"""Payment orders and their callbacks on real HTTP with real tokens: the amount always the
assessed one, the VNPay IPN answered as VNPay expects, bank notifications signed and checked,
receipts verifiable with the published JWKS, and no double effect, whatever arrives twice."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from jose import jwt
from sqlalchemy import func, select

from deploy.local.components import free_port
from deploy.sandbox.bank import SandboxSettings
from deploy.sandbox.bank import create_app as create_bank
from services.kit.tables import outbox
from services.payment.adapters.provider_query import MAX_ANSWER_BYTES, VnpayStatusQuery
from services.payment.adapters.tables import callbacks, orders
from services.payment.service.orders import recheck_pending
from tests.support.payment import BANK_SECRETS, TOTAL, VNPAY_SECRET, Payments, assess
from tests.support.payment_protocols import (
    bank_signature,
    vnpay_check,
    vnpay_ipn,
    vnpay_query,
    vnpay_querydr_answer,
)
from tests.support.servers import serve

pytestmark = pytest.mark.integration
SUCCEEDED = "payment.order.succeeded.v1"


async def scalar(p: Payments, query: Any) -> Any:
    db = p.db()
    try:
        async with db.transaction() as uow:
            return (await uow.connection.execute(query)).scalar()
    finally:
        await db.dispose()


async def succeeded_events(p: Payments) -> int:
    return int(await scalar(p, select(func.count()).select_from(outbox).where(outbox.c.type == SUCCEEDED)))


async def new_order(p: Payments, api: httpx.AsyncClient, provider: str = "vnpay", owner: str = "citizen-1") -> dict:
    assessed = await assess(p.db_url, owner)
    answer = await api.post("/orders", headers=p.payer(owner), json={"dossier_id": assessed["dossier_id"],
                                                                      "provider": provider})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def ipn(api: httpx.AsyncClient, params: dict[str, str]) -> dict[str, str]:
    answer = await api.get("/callbacks/vnpay/ipn", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_an_order_charges_the_assessed_total_through_a_signed_vnpay_url(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api)
    assert (order["amount"], order["state"], order["provider"]) == (TOTAL, "pending", "vnpay")
    query = vnpay_query(order["pay"]["url"])
    assert vnpay_check(query, VNPAY_SECRET)
    assert query["vnp_Amount"] == str(TOTAL * 100) and query["vnp_TxnRef"] == order["reference"]


async def test_only_the_owner_of_the_assessment_orders_and_reads(payments: Payments) -> None:
    assessed = await assess(payments.db_url, "citizen-1")
    async with payments.client() as api:
        body = {"dossier_id": assessed["dossier_id"], "provider": "vnpay"}
        assert (await api.post("/orders", headers=payments.payer("citizen-2"), json=body)).status_code == 404
        order = (await api.post("/orders", headers=payments.payer(), json=body)).json()
        assert (await api.get(f"/orders/{order['id']}", headers=payments.payer("citizen-2"))).status_code == 404
        again = await api.post("/orders", headers=payments.payer(), json=body)
        assert again.status_code == 409  # one open order per dossier
        extra = await api.post("/orders", headers=payments.payer(), json={**body, "amount": 1})
        assert extra.status_code == 422  # the amount is never the client's


async def test_an_order_is_created_once_per_idempotency_key(payments: Payments) -> None:
    assessed = await assess(payments.db_url)
    headers = {**payments.payer(), "Idempotency-Key": "pay-1"}
    body = {"dossier_id": assessed["dossier_id"], "provider": "vietqr"}
    async with payments.client() as api:
        first = await api.post("/orders", headers=headers, json=body)
        second = await api.post("/orders", headers=headers, json=body)
        other = await api.post("/orders", headers=headers, json={**body, "provider": "vnpay"})
    assert (first.status_code, second.status_code, other.status_code) == (201, 200, 422)
    assert first.json()["id"] == second.json()["id"]


async def test_a_paid_ipn_succeeds_once_with_a_receipt_verifiable_against_the_jwks(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api)
        params = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL, tmn_code="PORTAL01")
        assert await ipn(api, params) == {"RspCode": "00", "Message": "Confirm Success"}
        assert await ipn(api, params) == {"RspCode": "02", "Message": "Order already confirmed"}
        failed_late = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL, response_code="24",
                                transaction_status="02")  # fmt: skip
        assert (await ipn(api, failed_late))["RspCode"] == "02"
        seen = (await api.get(f"/orders/{order['id']}", headers=payments.payer())).json()
        jwks = (await api.get("/jwks")).json()
    assert seen["state"] == "succeeded" and seen["paid_at"]
    assert [h["state"] for h in seen["history"]] == ["created", "pending", "succeeded"]
    receipt = seen["receipt"]
    kid = jwt.get_unverified_header(receipt["jws"])["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    claims = jwt.decode(receipt["jws"], key, algorithms=["RS256"])
    assert (claims["amount"], claims["receipt_number"], claims["order_reference"]) == (
        TOTAL, receipt["number"], order["reference"]
    )  # fmt: skip
    tampered = receipt["jws"].rsplit(".", 1)[0] + "." + "A" * 40
    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        jwt.decode(tampered, key, algorithms=["RS256"])
    assert await succeeded_events(payments) == 1


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [("signature", ("97", "Invalid signature")), ("order", ("01", "Order not found")),
     ("amount", ("04", "Invalid amount"))],
)  # fmt: skip
async def test_bad_ipns_are_answered_by_the_protocol_and_change_nothing(
    payments: Payments, tamper: str, expected: tuple[str, str]
) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api)
        ref, amount = order["reference"], TOTAL
        if tamper == "order":
            ref = "DVC25010100009999"
        if tamper == "amount":
            amount = TOTAL - 1
        params = vnpay_ipn(VNPAY_SECRET if tamper != "signature" else "guessed", txn_ref=ref, amount_vnd=amount)
        assert await ipn(api, params) == {"RspCode": expected[0], "Message": expected[1]}
        state = (await api.get(f"/orders/{order['id']}", headers=payments.payer())).json()["state"]
    assert state == "pending" and await succeeded_events(payments) == 0
    if tamper == "amount":
        assert await scalar(payments, select(orders.c.flag).where(orders.c.id == order["id"])) == "amount-mismatch"


async def test_the_same_ipn_twenty_times_at_once_pays_once(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api)
    params = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL)
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=payments.url + "/api/v1/payment", limits=limits, timeout=30) as api:
        answers = await asyncio.gather(*(ipn(api, params) for _ in range(20)))
    codes = sorted(a["RspCode"] for a in answers)
    assert codes == ["00"] + ["02"] * 19
    assert await succeeded_events(payments) == 1
    logged = await scalar(payments, select(func.count()).select_from(callbacks))
    assert logged == 20


def notification(reference: str, amount: int, transaction: str = "FT2533712345") -> bytes:
    return json.dumps({"transaction_id": transaction, "bank_bin": "970436", "account": "0011001234567",
                       "amount": amount, "description": f"CK {reference} nop phi ho so",
                       "transferred_at": "2025-12-03T09:30:05+07:00"}).encode()  # fmt: skip


async def notify(api: httpx.AsyncClient, body: bytes, secret: str = BANK_SECRETS[0], at: int | None = None):  # type: ignore[no-untyped-def]
    signature = bank_signature(body, secret, at if at is not None else int(time.time()))
    return await api.post("/callbacks/bank", content=body, headers={"X-Signature": signature,
                                                                     "Content-Type": "application/json"})  # fmt: skip


async def test_a_bank_transfer_naming_the_order_pays_it_once(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api, "vietqr")
        assert order["pay"]["kind"] == "vietqr" and order["reference"] in order["pay"]["payload"]
        png = await api.get(f"/orders/{order['id']}/vietqr.png", headers=payments.payer())
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        body = notification(order["reference"], TOTAL)
        first = await notify(api, body)
        again = await notify(api, body, secret=BANK_SECRETS[1])  # the previous secret, during rotation
        assert (first.status_code, first.json()["result"]) == (200, "accepted")
        assert (again.status_code, again.json()["result"]) == (200, "accepted")
        twice = await notify(api, notification(order["reference"], TOTAL, "FT-another"))
        assert twice.json()["result"] == "flagged"  # paid twice: for review, not a second success
        state = (await api.get(f"/orders/{order['id']}", headers=payments.payer())).json()["state"]
    assert state == "succeeded" and await succeeded_events(payments) == 1


async def test_bank_notifications_that_cannot_be_trusted_change_nothing(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api, "vietqr")
        body = notification(order["reference"], TOTAL)
        stale = await notify(api, body, at=int(time.time()) - 3600)
        forged = await notify(api, body, secret="not-ours")
        changed = await api.post("/callbacks/bank", content=body.replace(b"250000", b"350000"),
                                 headers={"X-Signature": bank_signature(body, BANK_SECRETS[0], int(time.time())),
                                          "Content-Type": "application/json"})  # fmt: skip
        unsigned = await api.post("/callbacks/bank", content=body, headers={"Content-Type": "application/json"})
        short = await notify(api, notification(order["reference"], TOTAL - 1000))
        unknown = await notify(api, notification("DVC25010100009999", TOTAL))
        state = (await api.get(f"/orders/{order['id']}", headers=payments.payer())).json()["state"]
    assert [r.status_code for r in (stale, forged, changed, unsigned)] == [401, 401, 401, 401]
    assert stale.json()["type"] == "/problems/callback-signature-invalid"
    assert (short.json()["result"], unknown.json()["result"]) == ("flagged", "unmatched")
    assert state == "pending" and await succeeded_events(payments) == 0
    db = payments.db()
    try:
        async with db.transaction() as uow:
            logged = list(await uow.connection.execute(select(callbacks).order_by(callbacks.c.id)))
    finally:
        await db.dispose()
    assert len(logged) == 6 and [row.verified for row in logged[:4]] == [False] * 4
    assert all(row.headers.get("x-signature") in (None, "[redacted]") for row in logged)


async def test_an_order_past_its_time_expires_and_a_late_payment_is_flagged(payments: Payments) -> None:
    from datetime import UTC, datetime, timedelta

    from services.payment.service.orders import expire_due

    async with payments.client() as api:
        order = await new_order(payments, api)
        db = payments.db()
        try:
            async with db.transaction() as uow:
                assert await expire_due(uow, datetime.now(UTC) + timedelta(hours=1)) == 1
        finally:
            await db.dispose()
        late = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL)
        assert (await ipn(api, late))["RspCode"] == "02"
        seen = (await api.get(f"/orders/{order['id']}", headers=payments.payer())).json()
    assert seen["state"] == "expired" and await succeeded_events(payments) == 0
    assert await scalar(payments, select(orders.c.flag).where(orders.c.id == order["id"])) == "late-payment"


def status_query(client: httpx.AsyncClient, bank_url: str, secret: str = VNPAY_SECRET) -> VnpayStatusQuery:
    return VnpayStatusQuery(client, f"{bank_url}/merchant_webapi/api/transaction", tmn_code="PORTAL01",
                            secret=secret, ip_addr="127.0.0.1")  # fmt: skip


async def recheck(payments: Payments, query: VnpayStatusQuery) -> dict[str, int]:
    db = payments.db()
    try:
        return await recheck_pending(db, payments.settings, query, datetime.now(UTC) + timedelta(minutes=5),
                                     older_than=timedelta(minutes=2))  # fmt: skip
    finally:
        await db.dispose()


async def test_a_lost_ipn_is_made_good_by_asking_the_provider(payments: Payments) -> None:
    """VNPay's querydr against the sandbox bank, which serves the same API: paid and declined
    payments whose IPN never arrived are settled; one the payer has not finished, and one the bank
    never saw, stay pending."""
    nowhere = f"http://127.0.0.1:{free_port()}/ipn"  # the IPN never arrives
    bank = SandboxSettings(tmn_code="PORTAL01", vnpay_hash_secret=VNPAY_SECRET, ipn_url=nowhere)
    async with payments.client() as api:
        paid, declined, unfinished, unseen = [await new_order(payments, api) for _ in range(4)]
    with serve(create_bank(bank)) as bank_url:
        async with httpx.AsyncClient(base_url=bank_url, timeout=30) as bank_api:
            for order in (paid, declined, unfinished):
                assert (await bank_api.post("/api/vnpay/requests", json=vnpay_query(order["pay"]["url"]))).is_success
            for order, decision in ((paid, "approve"), (declined, "decline")):
                outcome = await bank_api.post(f"/api/vnpay/{order['reference']}/{decision}", json={})
                assert "not delivered" in outcome.json()["portal_replies"][0]["error"]
            # Someone without the merchant's secret learns nothing and changes nothing.
            assert await recheck(payments, status_query(bank_api, bank_url, secret="guessed")) == {
                "paid": 0, "declined": 0, "unchanged": 4,
            }  # fmt: skip
            counts = await recheck(payments, status_query(bank_api, bank_url))
    assert counts == {"paid": 1, "declined": 1, "unchanged": 2}
    async with payments.client() as api:
        states = [
            (await api.get(f"/orders/{o['id']}", headers=payments.payer())).json()
            for o in (paid, declined, unfinished, unseen)
        ]
    assert [s["state"] for s in states] == ["succeeded", "failed", "pending", "pending"]
    assert states[0]["history"][-1]["source"] == "reconciliation" and states[0]["receipt"]
    # Paid when the bank says it was paid (to the second), not when the portal asked.
    paid_at = datetime.fromisoformat(states[0]["paid_at"])
    assert abs((paid_at - datetime.now(UTC)).total_seconds()) < 60
    assert await succeeded_events(payments) == 1
    failed = select(outbox.c.key, outbox.c.data).where(outbox.c.type == "payment.order.failed.v1")
    db = payments.db()
    try:
        async with db.transaction() as uow:
            [(key, data)] = list(await uow.connection.execute(failed))
    finally:
        await db.dispose()
    assert (key, data["reason"], data["owner"]) == (declined["id"], "declined", "citizen-1")


async def test_a_provider_answer_that_cannot_be_believed_changes_nothing(payments: Payments) -> None:
    """A forged paid answer, a redirect, an error page, an endless body and a dead address: the
    order stays pending each time, and the query never raises."""
    async with payments.client() as api:
        order = await new_order(payments, api)
    app = FastAPI()

    @app.post("/forged")
    async def forged(request: Request) -> dict[str, str]:
        return vnpay_querydr_answer("not-the-merchants-secret", await request.json(), amount_vnd=TOTAL)

    @app.post("/moved")
    async def moved() -> Response:
        return Response(status_code=307, headers={"Location": "/forged"})

    @app.post("/broken")
    async def broken() -> Response:
        return Response("<html>maintenance</html>", status_code=503)

    @app.post("/endless")
    async def endless() -> Response:
        return Response(b"{" + b" " * (MAX_ANSWER_BYTES + 1), media_type="application/json")

    with serve(app) as url:
        async with httpx.AsyncClient(timeout=5) as client:
            for path in ("/forged", "/moved", "/broken", "/endless"):
                query = VnpayStatusQuery(client, f"{url}{path}", tmn_code="PORTAL01", secret=VNPAY_SECRET,
                                         ip_addr="127.0.0.1")  # fmt: skip
                assert (await query.status(order["reference"], datetime.now(UTC))).status == "unknown", path
                assert (await recheck(payments, query))["unchanged"] == 1, path
            dead = VnpayStatusQuery(client, f"http://127.0.0.1:{free_port()}/x", tmn_code="PORTAL01",
                                    secret=VNPAY_SECRET, ip_addr="127.0.0.1")  # fmt: skip
            assert (await dead.status(order["reference"], datetime.now(UTC))).reason == "ConnectError"
    async with payments.client() as api:
        seen = (await api.get(f"/orders/{order['id']}", headers=payments.payer())).json()
    assert seen["state"] == "pending" and await succeeded_events(payments) == 0


async def test_a_paid_order_changes_again_only_by_an_operators_refund(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api)
        path = f"/orders/{order['id']}/refund"
        early = await api.post(path, headers=payments.operator(), json={"reason": "payer asked"})
        assert early.status_code == 409 and early.json()["type"] == "/problems/order-transition-refused"
        assert (await ipn(api, vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL)))[
            "RspCode"
        ] == "00"
        assert (await api.post(path, headers=payments.payer(), json={"reason": "mine"})).status_code == 403
        assert (await api.post(f"/orders/{order['id']}/cancel", headers=payments.payer())).status_code == 409
        done = await api.post(path, headers=payments.operator(), json={"reason": "paid twice by the bank"})
        assert done.status_code == 200 and done.json()["state"] == "refunded"
        again = await api.post(path, headers=payments.operator(), json={"reason": "again"})
        assert again.status_code == 409


def test_callers_outside_a_providers_allow_list_are_refused() -> None:
    from services.kit.errors import Forbidden
    from services.payment.service.callbacks import check_address

    check_address("127.0.0.1", [])  # no list: anyone (the signature still decides)
    check_address("203.171.20.7", ["203.171.20.0/24", "2001:db8::/32"])
    check_address("2001:db8::5", ["203.171.20.0/24", "2001:db8::/32"])
    for outsider in ("127.0.0.1", "203.171.21.7", None, "not-an-address"):
        with pytest.raises(Forbidden):
            check_address(outsider, ["203.171.20.0/24", "2001:db8::/32"])
