"""Paying a dossier's fees asks the level of assurance its online service requires (carried by
``dossier.fees.assessed.v1``): a weaker sign-in is told to step up (RFC 9470) and no order is
made; a sign-in at the level makes it."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from contracts.events.dossier import FeesAssessed
from services.payment.adapters.tables import orders
from services.payment.service.orders import apply_fees_assessed
from tests.support.payment import FEES, Payments
from tests.support.tokens import bearer, token

pytestmark = pytest.mark.integration

IN_PERSON = "urn:portal:acr:in-person"


async def assessed_at(p: Payments, required_acr: str) -> str:
    dossier_id = str(uuid.uuid4())
    event = FeesAssessed.model_validate({
        "dossier_id": dossier_id, "code": "000.00.01.H22-251203-0001", "owner": "citizen-1",
        "agency_code": "000.00.01.H22", "lines": FEES, "total": sum(line["amount"] for line in FEES),
        "required_acr": required_acr,
    })  # fmt: skip
    db = p.db()
    try:
        async with db.transaction() as uow:
            await apply_fees_assessed(uow, event)
    finally:
        await db.dispose()
    return dossier_id


def payer(p: Payments, acr: str | None) -> dict[str, str]:
    claims = {} if acr is None else {"acr": acr, "auth_time": int(time.time())}
    return bearer(token(p.key, scope="payment:pay", aud="payment", sub="citizen-1", **claims))


async def test_an_order_for_fees_of_a_service_at_a_higher_level_needs_that_sign_in(payments: Payments) -> None:
    dossier_id = await assessed_at(payments, IN_PERSON)
    body = {"dossier_id": dossier_id, "provider": "vnpay"}
    async with payments.client() as api:
        for weaker in (None, "urn:portal:acr:password", "urn:portal:acr:mfa"):
            refused = await api.post("/orders", headers=payer(payments, weaker), json=body)
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"].endswith(f'acr_values="{IN_PERSON}"')
            assert refused.json()["type"] == "/problems/insufficient-user-authentication"
        db = payments.db()
        try:
            async with db.transaction() as uow:
                made = await uow.connection.scalar(select(func.count()).where(orders.c.dossier_id == dossier_id))
        finally:
            await db.dispose()
        assert made == 0
        created = await api.post("/orders", headers=payer(payments, IN_PERSON), json=body)
        assert created.status_code == 201, created.text

        # A service at the lowest level (and every assessment made before levels existed) asks nothing.
        plain = await assessed_at(payments, "urn:portal:acr:password")
        answer = await api.post("/orders", headers=payments.payer(), json={"dossier_id": plain, "provider": "vnpay"})
        assert answer.status_code == 201, answer.text
        document = (await api.get(f"{payments.url}/openapi.json")).json()
    assert document["paths"]["/api/v1/payment/orders"]["post"]["x-required-acr"] == "per-service"
