"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows, through the gateway.

The flows worth automating against: guessing a one-time code (five tries, then the code is dead),
having codes sent over and over to someone's phone (three a window, then 429 with Retry-After),
using a code twice, learning who has an account (a reset or a failed sign-in answers the same for
an unknown person); and the money flow: a payment notification replayed, or sent many times at
once, pays once; a submission retried with the same key files once, and the key cannot be reused
for another dossier.

In depth at the identity and payment services: tests/identity/accounts/test_accounts_registration_http.py,
test_accounts_credentials_http.py, tests/payment/test_orders_http.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.identity.oidc.credentials import CITIZEN_LOGIN
from tests.security.conftest import (
    file_dossier,
    forwarded,
    last_code,
    order_for,
    pkce_pair,
    start_registration,
    submit_sign_in,
)
from tests.support.dossier import PDF
from tests.support.payment import VNPAY_SECRET
from tests.support.payment_protocols import vnpay_ipn
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

IPN = "/api/v1/payment/callbacks/vnpay/ipn"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_a_one_time_code_cannot_be_guessed_nor_used_twice(stack: Stack) -> None:
    attempts = stack.settings["identity"].code_max_attempts  # type: ignore[attr-defined]
    with stack.client() as api:
        guessed = start_registration(api, 401)
        code = last_code(api, guessed["phone"])
        verify = {"account_id": guessed["account_id"]}
        answers = [api.post("/api/v1/identity/registrations/verify", json={**verify, "code": _wrong(code)})
                   for _ in range(attempts)]  # fmt: skip
        too_late = api.post("/api/v1/identity/registrations/verify", json={**verify, "code": code})

        used = start_registration(api, 402)
        once = {"account_id": used["account_id"], "code": last_code(api, used["phone"])}
        first = api.post("/api/v1/identity/registrations/verify", json=once)
        second = api.post("/api/v1/identity/registrations/verify", json=once)
    assert [a.status_code for a in answers] == [400] * attempts
    assert [a.json()["attempts_left"] for a in answers] == list(range(attempts - 1, -1, -1))
    assert too_late.status_code == 410, too_late.text  # the right code, after the guesses: dead
    assert first.status_code == 200 and second.status_code == 410


def test_codes_are_not_sent_to_a_phone_over_and_over(stack: Stack) -> None:
    sends = stack.settings["identity"].code_sends_per_phone  # type: ignore[attr-defined]
    with stack.client() as api:
        started = start_registration(api, 403)
        resend = {"account_id": started["account_id"]}
        answers = [api.post("/api/v1/identity/registrations/resend", json=resend,
                            headers=forwarded(f"192.0.2.{80 + n}")) for n in range(sends)]  # fmt: skip
        messages = api.get("/api/v1/identity/dev/messages", params={"to": started["phone"]}).json()["messages"]
    assert [a.status_code for a in answers[: sends - 1]] == [202] * (sends - 1)
    assert answers[-1].status_code == 429 and int(answers[-1].headers["retry-after"]) > 0
    assert len(messages) == sends  # the first send and the resends allowed, from whichever address


def test_who_has_an_account_is_not_told(stack: Stack) -> None:
    _, challenge = pkce_pair()
    with stack.client(follow_redirects=False) as api:
        known = api.post("/api/v1/identity/password/reset", json={"phone": "0912345678"},
                         headers=forwarded("192.0.2.90"))  # fmt: skip
        unknown = api.post("/api/v1/identity/password/reset", json={"phone": "0987000111"},
                           headers=forwarded("192.0.2.91"))  # fmt: skip
        wrong_password = submit_sign_in(api, CITIZEN_LOGIN, "Not-Her-Password-1!", ip="192.0.2.92", challenge=challenge)
        nobody = submit_sign_in(api, "079201099999", "Not-Her-Password-1!", ip="192.0.2.93", challenge=challenge)
    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json()) == {"reset_id", "code_expires_at"}
    assert wrong_password.status_code == nobody.status_code == 401
    alert = lambda page: page.text.split('role="alert"', 1)[1].split("<", 1)[0]  # noqa: E731
    assert alert(wrong_password) == alert(nobody)


def test_a_payment_notification_replayed_or_sent_many_times_at_once_pays_once(stack: Stack) -> None:
    payer = stack.headers("citizen_b")
    with stack.client() as api:
        receipt, _ = file_dossier(api, payer, stack.service_id)
        order = order_for(api, payer, receipt["dossier_id"])
        settings = stack.settings["payment"]
        ipn = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=order["amount"],
                        tmn_code=settings.vnpay_tmn_code)  # type: ignore[attr-defined]  # fmt: skip
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: api.get(IPN, params=ipn).json()["RspCode"], range(8)))
        replayed = api.get(IPN, params=ipn).json()
        seen = api.get(f"/api/v1/payment/orders/{order['id']}", headers=payer).json()
    assert sorted(replies) == ["00"] + ["02"] * 7, replies
    assert replayed["RspCode"] == "02"  # "already confirmed", and nothing changes
    assert seen["state"] == "succeeded" and seen["amount"] == order["amount"]
    assert [h["state"] for h in seen["history"]].count("succeeded") == 1
    assert seen["receipt"] is not None


def test_a_submission_retried_with_its_key_files_once_and_the_key_is_not_reusable(stack: Stack) -> None:
    headers = {**stack.headers("citizen_b"), "Idempotency-Key": "api6-retried-submission"}
    with stack.client() as api:
        refs = []
        for component in ("TP01", "TP02"):
            up = api.post(
                "/api/v1/dossier/attachments", headers=stack.headers("citizen_b"), files={"file": ("a.pdf", PDF)}
            )
            refs.append({"id": up.json()["id"], "component_code": component})
        body = {"service_id": stack.service_id, "attachments": refs,
                "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip
        before = len(api.get("/api/v1/dossier/dossiers", headers=headers, params={"limit": 100}).json()["items"])
        first = api.post("/api/v1/dossier/dossiers", headers=headers, json=body)
        retried = api.post("/api/v1/dossier/dossiers", headers=headers, json=body)
        other = api.post(
            "/api/v1/dossier/dossiers", headers=headers, json={**body, "form": {**body["form"], "ho_ten": "Người khác"}}
        )
        after = len(api.get("/api/v1/dossier/dossiers", headers=headers, params={"limit": 100}).json()["items"])
    assert first.status_code == 201 and retried.status_code == 200
    assert retried.json()["dossier_id"] == first.json()["dossier_id"]
    assert other.status_code in (409, 422), other.text
    assert after == before + 1
