"""OWASP API10:2023 Unsafe Consumption of APIs.

The portal believes third parties only on evidence. The bank (VNPay): its answers to the status
query (``services/payment/adapters/provider_query.py``, the production adapter, calling the
stack's provider over real HTTP) are believed only when signed with the merchant's secret, for our
merchant, order and amount, small, JSON, and not a redirect; its IPNs and a bank's transfer
notifications, through the gateway, only with a valid signature, a known order, the right amount
and a fresh timestamp. The agencies: their status pushes are read record by record, and a
record that is malformed, out of range or for an agency the client does not speak for is
rejected with its reasons and changes nothing.

In depth: tests/payment/test_orders_http.py, tests/payment/test_domain_vnpay.py,
tests/sync/test_inbound_http.py, tests/sync/test_domain_records.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import Response

from services.payment.adapters.provider_query import MAX_ANSWER_BYTES, VnpayStatusQuery
from services.payment.service.orders import recheck_pending
from tests.security.conftest import file_dossier, order_for
from tests.support.payment import BANK_SECRETS, VNPAY_SECRET, payment_database
from tests.support.payment_protocols import bank_signature, vnpay_ipn, vnpay_querydr_answer
from tests.support.stack import OTHER_AGENCY, Stack
from tests.support.sync import H22

pytestmark = pytest.mark.integration

IPN = "/api/v1/payment/callbacks/vnpay/ipn"


def new_order(stack: Stack) -> dict[str, Any]:
    payer = stack.headers("citizen_b")
    with stack.client() as api:
        receipt, _ = file_dossier(api, payer, stack.service_id)
        return order_for(api, payer, receipt["dossier_id"])


def state_of(stack: Stack, order: dict[str, Any]) -> str:
    with stack.client() as api:
        return api.get(f"/api/v1/payment/orders/{order['id']}", headers=stack.headers("citizen_b")).json()["state"]  # type: ignore[no-any-return]


def recheck(stack: Stack) -> dict[str, int]:
    """The worker's status query, now, with the production adapter and the stack's settings."""
    settings = stack.settings["payment"]

    async def run() -> dict[str, int]:
        db = payment_database(settings.database_url.get_secret_value())
        try:
            async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
                query = VnpayStatusQuery(client, settings.vnpay_api_url, tmn_code=settings.vnpay_tmn_code,  # type: ignore[attr-defined]
                                         secret=VNPAY_SECRET, ip_addr="127.0.0.1")  # fmt: skip
                return await recheck_pending(db, settings, query, datetime.now(UTC) + timedelta(minutes=10),  # type: ignore[arg-type]
                                             older_than=timedelta(minutes=5))  # fmt: skip
        finally:
            await db.dispose()

    return asyncio.run(run())


def only_for(
    order: dict[str, Any], answer: Callable[[dict[str, Any]], Response]
) -> Callable[[dict[str, Any]], Response]:
    """The provider answers ``answer`` about this order, and 503 about any other (the session's
    other pending orders are not this test's business)."""
    return lambda req: answer(req) if req.get("vnp_TxnRef") == order["reference"] else Response(status_code=503)


def signed(secret: str = VNPAY_SECRET, **changes: Any) -> Callable[[dict[str, Any]], Response]:
    def answer(req: dict[str, Any]) -> Response:
        amount = changes.pop("amount_vnd", None)
        body = vnpay_querydr_answer(secret, {**req, **changes}, amount_vnd=amount or 135_000)
        return Response(json.dumps(body), media_type="application/json")

    return answer


def test_provider_answers_that_cannot_be_believed_change_nothing(stack: Stack) -> None:
    order = new_order(stack)
    hostile: dict[str, Callable[[dict[str, Any]], Response]] = {
        "signed with another secret": signed("not-the-merchants-secret"),
        "about another order": signed(vnp_TxnRef="DVC00000000000000"),
        "for another merchant": signed(vnp_TmnCode="SOMEONE1"),
        "paid, but another amount": signed(amount_vnd=1_000),
        "a redirect to a good answer": lambda _: Response(status_code=307, headers={"Location": "/good"}),
        "an error page": lambda _: Response("<html>bảo trì</html>", status_code=503, media_type="text/html"),
        "not JSON": lambda _: Response("RspCode=00&Message=ok", media_type="application/json"),
        "an endless body": lambda _: Response(b"{" + b" " * (MAX_ANSWER_BYTES + 1), media_type="application/json"),
    }
    for what, answer in hostile.items():
        stack.provider.answer = only_for(order, answer)
        calls = stack.provider.calls
        counts = recheck(stack)
        assert stack.provider.calls > calls, what  # it was asked...
        assert counts["paid"] == 0 and counts["declined"] == 0, (what, counts)  # ...and not believed
        assert state_of(stack, order) == "pending", what
    stack.provider.answer = only_for(order, signed())  # the control: the real thing is believed
    try:
        assert recheck(stack)["paid"] == 1
    finally:
        stack.provider.answer = lambda _: Response(status_code=503)
    assert state_of(stack, order) == "succeeded"


def test_payment_notifications_are_believed_only_when_they_prove_themselves(stack: Stack) -> None:
    order, settings = new_order(stack), stack.settings["payment"]
    tmn = settings.vnpay_tmn_code  # type: ignore[attr-defined]
    good = {"txn_ref": order["reference"], "amount_vnd": order["amount"], "tmn_code": tmn}
    forged = vnpay_ipn("guessed-secret", **good)
    unknown = vnpay_ipn(VNPAY_SECRET, **{**good, "txn_ref": "DVC99999999999999"})
    other_merchant = vnpay_ipn(VNPAY_SECRET, **{**good, "tmn_code": "SOMEONE1"})
    tampered = {**vnpay_ipn(VNPAY_SECRET, **good), "vnp_Amount": "100"}  # changed after signing
    body = json.dumps({"description": f"Chuyen tien {order['reference']}", "amount": order["amount"],
                       "transaction_id": "FT-1"}).encode()  # fmt: skip
    stale = int(time.time()) - 3600
    with stack.client() as api:
        codes = {name: api.get(IPN, params=params).json()["RspCode"]
                 for name, params in {"forged": forged, "unknown": unknown, "other merchant": other_merchant,
                                      "tampered": tampered}.items()}  # fmt: skip
        unsigned = api.post(
            "/api/v1/payment/callbacks/bank", content=body, headers={"Content-Type": "application/json"}
        )
        old = api.post("/api/v1/payment/callbacks/bank", content=body,
                       headers={"Content-Type": "application/json", "X-Signature": bank_signature(body, BANK_SECRETS[0],
                                                                                                   stale)})  # fmt: skip
        wrong_key = api.post("/api/v1/payment/callbacks/bank", content=body,
                             headers={"Content-Type": "application/json",
                                      "X-Signature": bank_signature(body, "guessed", int(time.time()))})  # fmt: skip
    assert codes["forged"] == "97" and codes["tampered"] == "97", codes
    assert codes["unknown"] == "01", codes
    assert codes["other merchant"] == "01", codes  # signed with our secret, but not our terminal
    assert [a.status_code for a in (unsigned, old, wrong_key)] == [401, 401, 401]
    assert state_of(stack, order) == "pending"
    with stack.client() as api:  # the control: the genuine notification is believed
        assert api.get(IPN, params=vnpay_ipn(VNPAY_SECRET, **good)).json()["RspCode"] == "00"
    assert state_of(stack, order) == "succeeded"


def test_an_agencys_records_are_read_one_by_one_and_bad_ones_change_nothing(stack: Stack, owned: Any) -> None:
    code = owned.dossier["code"]
    now = datetime.now(UTC)
    good = {"dossier_code": code, "agency_code": H22, "occurred_at": (now + timedelta(minutes=1)).isoformat()}
    records = [
        {**good, "status": "9"},  # a string where the format says a number
        {**good, "status": 42},  # not a national status
        {**good, "agency_code": OTHER_AGENCY, "status": 9},  # an agency this client does not speak for
        {**good, "occurred_at": "hôm qua", "status": 9},  # not a time
        {**good, "occurred_at": now.replace(tzinfo=None).isoformat(), "status": 9},  # a time without its offset
        {**good, "status": 9, "note": "x" * 100_000},  # far too long
        {**good, "status": 9, "unexpected": "field"},  # not a field of the format
        ["not", "a", "record"],
    ]
    with stack.client() as api:
        pushed = api.post("/api/v1/sync/records", headers=stack.headers("province"), json={"records": records})
        assert pushed.status_code == 200, pushed.text
        results = pushed.json()["results"]
        time.sleep(1)  # give an accepted record (there must be none) time to travel
        timeline = api.get(f"/api/v1/dossier/dossiers/{owned.dossier['dossier_id']}/timeline",
                           headers=stack.headers("citizen_a")).json()["items"]  # fmt: skip
    assert [r["outcome"] for r in results] == ["rejected"] * len(records), results
    assert all(r.get("errors") or r.get("reasons") or r.get("reason") for r in results), results
    assert pushed.json()["summary"]["accepted"] == 0
    assert max(item["status"] for item in timeline) < 9
