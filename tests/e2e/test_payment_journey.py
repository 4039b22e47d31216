"""Paying a dossier's fees end to end on the real broker, through the gateway, with the sandbox
bank as the provider: the dossier service assesses the fees → the payment service learns them
by event → the citizen orders → the sandbox bank's payer approves → its signed IPN (sent twice,
then a failure out of order) reaches the portal through the gateway → the order succeeds once →
the receipt verifies against the published JWKS → the dossier shows the fee paid."""

from __future__ import annotations

import httpx
import pytest
from jose import jwt

from deploy.local.components import free_port
from deploy.sandbox.bank import SandboxSettings
from deploy.sandbox.bank import create_app as create_bank
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.app import create_app as create_dossier
from services.payment.app import SERVICE as PAYMENT
from services.payment.app import create_app as create_payment
from tests.e2e.test_catalogue_reaches_dossier import eventually
from tests.support.dossier import dossier_settings
from tests.support.journey import file_dossier, gateway, intake_service, workers
from tests.support.payment import payment_settings
from tests.support.payment_protocols import vnpay_query
from tests.support.servers import serve
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration
SECRET = "vnpay-e2e-hash-secret"


async def test_fees_are_paid_through_the_sandbox_bank_and_the_dossier_shows_it(
    infra, dossier_db_url: str, payment_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    service_id = await intake_service(infra.bootstrap, dossier_db_url)
    gateway_port, bank_port = free_port(), free_port()
    portal = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": portal, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", **oidc)
        payment = payment_settings(payment_db_url, infra.bootstrap, vnpay_hash_secret=SECRET, vnpay_tmn_code="DVCQG001",
                                   vnpay_pay_url=f"http://127.0.0.1:{bank_port}/vnpay/pay", **oidc)  # fmt: skip
        bank = SandboxSettings(port=bank_port, tmn_code="DVCQG001", vnpay_hash_secret=SECRET,
                               ipn_url=f"{portal}/api/v1/payment/callbacks/vnpay/ipn")  # fmt: skip
        async with workers((DOSSIER, dossier), (PAYMENT, payment)):
            with serve(create_dossier(dossier)) as dossier_url, serve(create_payment(payment)) as payment_url, \
                 serve(create_bank(bank), port=bank_port) as bank_url, \
                 gateway(gateway_port, jwks_url, dossier_url=dossier_url, payment_url=payment_url) as url:  # fmt: skip
                who = {"iss": portal, "sub": "citizen-pay"}
                citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier", **who))
                payer = bearer(token(keys.published[0], scope="payment:pay", aud="payment", **who))
                async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as api:
                    receipt = await file_dossier(api, citizen, service_id)
                    wanted = {"dossier_id": receipt["dossier_id"], "provider": "vnpay"}

                    async def ordered() -> dict | None:
                        answer = await api.post("/payment/orders", headers=payer, json=wanted)
                        return answer.json() if answer.status_code == 201 else None

                    order = await eventually(ordered)  # once the assessment has arrived by event
                    assert order["amount"] == receipt["fee_total"] == 135_000

                    async with httpx.AsyncClient(base_url=bank_url, timeout=30) as bank_api:
                        page = await bank_api.get("/vnpay/pay", params=vnpay_query(order["pay"]["url"]))
                        assert page.status_code == 200 and "135,000 VND" in page.text
                        paid = await bank_api.post(f"/api/vnpay/{order['reference']}/approve",
                                                   json={"duplicates": 1, "failure_after": True})  # fmt: skip
                    assert [r["RspCode"] for r in paid.json()["portal_replies"]] == ["00", "02", "02"]

                    seen = (await api.get(f"/payment/orders/{order['id']}", headers=payer)).json()
                    assert seen["state"] == "succeeded"
                    jwks = (await api.get("/payment/jwks")).json()
                    kid = jwt.get_unverified_header(seen["receipt"]["jws"])["kid"]
                    key = next(k for k in jwks["keys"] if k["kid"] == kid)
                    claims = jwt.decode(seen["receipt"]["jws"], key, algorithms=["RS256"])
                    assert claims["dossier_code"] == receipt["code"] and claims["amount"] == 135_000

                    async def fee_paid() -> dict | None:
                        d = (await api.get(f"/dossier/dossiers/{receipt['dossier_id']}", headers=citizen)).json()
                        return d if d["fees_paid_at"] else None

                    shown = await eventually(fee_paid)
                    assert shown["timeline"][-1]["source"] == "payment"
