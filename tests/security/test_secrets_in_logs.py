"""No secret and no full personal identifier in the portal's logs.

The stack (``tests.support.stack``) writes every line its processes log, rendered exactly as they
write it (the kit's JSON, after its scrubbing), to ``<log_dir>/portal.log`` for the whole session.
This module first drives the flows that handle secrets and identifiers through the gateway (so it
proves something when run alone too), then scans that file: everything the security modules did
before it in the session is scanned as well.

Searched for: client secrets, passwords, bank and webhook secrets, TOTP secrets, every bearer
token, refresh token and authorization code the session handled (and anything shaped like a JWT),
private key material, and 12-digit personal identification numbers.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import structlog

from contracts.services import service_names
from services.identity.service.accounts import SEED_ACCOUNTS, SEED_ADMIN_TOTP, SEED_OFFICIAL_TOTP
from services.identity.service.clients import DEMO_PROVINCE_PORTAL_SECRET, DEMO_PROVINCE_SECRET
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.security.conftest import file_dossier, order_for, register_citizen, sign_in
from tests.support.payment import BANK_SECRETS, VNPAY_SECRET
from tests.support.payment_protocols import vnpay_ipn
from tests.support.stack import Stack
from tests.support.sync import H22

pytestmark = pytest.mark.integration

JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}")
UUID_OR_HEX = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}")
PERSONAL_NUMBER = re.compile(r"(?<![\w*])\d{12}(?![\w])")
TEST_PASSWORDS = ("Security-Test-2026!", "Mass-Assign-2026!", "Wrong-Guess-", "Not-The-Password-1!",
                  "Not-Her-Password-1!", "Log-Scan-Password-2026!")  # fmt: skip
ENDPOINT_SECRET = "logscan-endpoint-secret-" + "k" * 24


def drive_flows_that_log(stack: Stack) -> dict[str, Any]:
    """Sign-ins, token grants, registration, a submission naming the applicant, a payment and its
    IPN, a client made and its secret rotated, an endpoint registered with its secret, refusals of
    each; every request tagged with a request id to find in the log afterwards."""
    handled: dict[str, Any] = {"secrets": [], "tokens": [], "request_ids": []}

    def tagged() -> dict[str, str]:
        rid = f"logscan-{uuid.uuid4().hex[:12]}"
        handled["request_ids"].append(rid)
        return {"X-Request-ID": rid}

    tokens = sign_in(stack, CITIZEN_LOGIN, CITIZEN_PASSWORD, ip="192.0.2.120")
    handled["tokens"] += [tokens["access_token"], tokens["refresh_token"], tokens["id_token"], tokens["code"],
                          tokens["code_verifier"]]  # fmt: skip
    person = register_citizen(stack, 501, password="Log-Scan-Password-2026!")
    handled["identifiers"] = [person.login, CITIZEN_LOGIN]
    admin = {**stack.headers("admin"), **tagged()}
    with stack.client() as api:
        granted = api.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           auth=("demo-province", DEMO_PROVINCE_SECRET), headers=tagged())  # fmt: skip
        handled["tokens"].append(granted.json()["access_token"])
        api.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("demo-province", "wrong-secret"))
        api.get("/oauth2/userinfo", params={"access_token": tokens["access_token"]}, headers=tagged())
        api.post("/oauth2/introspect", data={"token": tokens["access_token"]},
                 auth=("demo-province", DEMO_PROVINCE_SECRET), headers=tagged())  # fmt: skip
        refreshed = api.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "client_id": "demo-web", "refresh_token": tokens["refresh_token"]},
            headers=tagged(),
        )
        handled["tokens"] += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
        made = api.post("/api/v1/identity/clients", headers=admin, json={
            "client_id": f"logscan-{uuid.uuid4().hex[:6]}", "name": "Log scan", "kind": "confidential",
            "grant_types": ["client_credentials"], "scopes": ["sync:push"]})  # fmt: skip
        assert made.status_code == 201, made.text
        rotated = api.post(f"/api/v1/identity/clients/{made.json()['client_id']}/secret", headers=admin)
        handled["secrets"] += [made.json()["client_secret"], rotated.json()["client_secret"]]
        endpoint = api.put(f"/api/v1/sync/agencies/{H22}/endpoint", headers=admin,
                           json={"mode": "pull", "secrets": [ENDPOINT_SECRET]})  # fmt: skip
        assert endpoint.status_code == 200, endpoint.text
        citizen = {**stack.headers("citizen_b"), **tagged()}
        receipt, _ = file_dossier(api, citizen, stack.service_id)
        order = order_for(api, citizen, receipt["dossier_id"])
        ipn = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=order["amount"],
                        tmn_code=stack.settings["payment"].vnpay_tmn_code)  # type: ignore[attr-defined]  # fmt: skip
        assert api.get("/api/v1/payment/callbacks/vnpay/ipn", params=ipn, headers=tagged()).json()["RspCode"] == "00"
        api.get("/api/v1/dossier/dossiers", headers={"Authorization": "Bearer " + tokens["access_token"][:-4] + "AAAA"})
        api.get("/api/v1/dossier/lookup", params={"code": receipt["code"], "verifier": "2345"}, headers=tagged())
        api.get("/api/v1/catalogue/services", params={"q": CITIZEN_LOGIN}, headers=tagged())  # an identifier searched
    # An unexpected database error, as the kit's error handler logs it, whose text names a secret.
    try:
        raise RuntimeError(f"INSERT failed\n[parameters: ('{DEMO_PROVINCE_SECRET}', '{CITIZEN_LOGIN}')]")
    except RuntimeError:
        structlog.get_logger("services.kit.problems").exception("unhandled error", path="/api/v1/dossier/dossiers")
    return handled


def secrets_of_the_session(stack: Stack, handled: dict[str, Any]) -> dict[str, str]:
    """Every value that must never be written, named."""
    found = {
        "demo-province secret": DEMO_PROVINCE_SECRET,
        "demo-province-portal secret": DEMO_PROVINCE_PORTAL_SECRET,
        "VNPay hash secret": VNPAY_SECRET,
        "official's TOTP secret": SEED_OFFICIAL_TOTP,
        "administrator's TOTP secret": SEED_ADMIN_TOTP,
        "agency endpoint secret": ENDPOINT_SECRET,
        "test issuer's private exponent": stack.key["d"],
        **{f"bank webhook secret {n}": s for n, s in enumerate(BANK_SECRETS)},
        **{f"password of {a['kind']}": a["password"] for a in SEED_ACCOUNTS},
        **{f"test password {p}": p for p in TEST_PASSWORDS},
        **{f"secret handed out {n}": s for n, s in enumerate(handled["secrets"])},
        **{f"token {n}": t for n, t in enumerate([*handled["tokens"], *stack.issued_tokens()])},
    }
    for name, settings in stack.settings.items():
        for field in ("key_encryption_key", "accounts_secret_key", "receipt_key_encryption_key"):
            value = getattr(settings, field, None)
            if value is not None and len(value.get_secret_value()) >= 8:
                found[f"{name} {field}"] = value.get_secret_value()
    return found


def leaks(log: str, secrets: dict[str, str], identifiers: list[str]) -> list[str]:
    problems = [f"{name} appears" for name, value in secrets.items() if value and value in log]
    problems += [f"something shaped like a JWT: {m[:20]}…" for m in JWT.findall(log)]
    problems += ["private key material (PEM)"] if "PRIVATE KEY" in log else []
    without_ids = UUID_OR_HEX.sub("<id>", log)
    problems += [f"a 12-digit personal identifier: …{m[-4:]}" for m in set(PERSONAL_NUMBER.findall(without_ids))]
    problems += [f"a known identifier: …{i[-4:]}" for i in identifiers if i in log]
    return problems


def test_no_secret_nor_personal_identifier_in_the_logs(stack: Stack) -> None:
    handled = drive_flows_that_log(stack)
    log_file: Path = stack.log_dir / "portal.log"
    # A request's access line is written once its answer is sent: the last ones may still be on
    # their way when the client has its answer. Wait for them, a bounded while.
    deadline = time.monotonic() + 10
    while True:
        log = log_file.read_text(encoding="utf-8")
        if all(rid in log for rid in handled["request_ids"]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # The scan sees what it must: every service's requests, this module's flows, the planted error.
    proxied = {line.get("service") for line in lines if line.get("event") == "proxied"}
    assert proxied >= set(service_names()), proxied
    assert all(rid in log for rid in handled["request_ids"]), "the flows' requests are not in the log"
    assert any(line.get("event") == "unhandled error" and "INSERT failed" in line.get("exception", "")
               for line in lines)  # fmt: skip
    assert leaks(log, secrets_of_the_session(stack, handled), handled["identifiers"]) == []


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scanner itself, on lines as the portal writes them: each kind of leak is found."""
    secrets = {"client secret": "s3cr3t-value-123"}
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    lines = [
        {"event": "request", "path": "/x", "request_id": "0123456789ab0123456789abcdef0123"},
        {"event": "oops", "detail": "s3cr3t-value-123"},
        {"event": "oops", "header": f"Bearer {token}"},
        {"event": "oops", "who": "079201000501"},
        {"event": "oops", "pem": "-----BEGIN PRIVATE KEY-----"},
    ]
    found = [leaks(json.dumps(line), secrets, ["079201000501"]) for line in lines]
    assert found[0] == []  # a request id of digits and hex is not a personal number
    assert found[1] == ["client secret appears"]
    assert found[2] and "JWT" in found[2][0]
    assert any("12-digit" in p for p in found[3]) and any("known identifier" in p for p in found[3])
    assert found[4] == ["private key material (PEM)"]
