"""OWASP API3:2023 Broken Object Property Level Authorization, through the gateway.

Mass assignment: every JSON body of the merged OpenAPI document refuses properties it does not
declare (read from the live document, so a new body is checked too), and the properties a caller
must never set (status, owner, agency, amount, account kind and roles, a client's secret) are
refused with a 422 naming them, nothing written. Over-exposure: what the API answers to its
rightful callers holds no password or secret hash, no private key, no full personal identifier
beyond the owner's own, and the public lookup names nobody.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from services.catalogue.service.fixtures import service_id as catalogue_service_id
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.security.conftest import Owned, sign_in
from tests.security.routes import operations
from tests.support.stack import Stack
from tests.support.sync import H22

pytestmark = pytest.mark.integration

SECRET_KEYS = re.compile(r"^(password.*|.*_hash|.*secret.*|private.*|totp.*|d|p|q|dp|dq|qi)$", re.IGNORECASE)
ARGON2 = "$argon2"


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    return httpx.get(f"{stack.url}/openapi.json", timeout=30).json()  # type: ignore[no-any-return]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


# A provider's signed notification is read tolerantly: a field the bank adds is ignored (never
# assigned to anything), so a new field on its side does not stop payments being recorded.
TOLERANT_READERS = {("POST", "/api/v1/payment/callbacks/bank")}


def test_every_json_body_refuses_properties_it_does_not_declare(document: dict[str, Any]) -> None:
    open_bodies, checked = [], 0
    for method, path in operations(document):
        if (method, path) in TOLERANT_READERS:
            continue
        body = document["paths"][path][method.lower()].get("requestBody", {})
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        checked += 1
        resolved = _resolve(document, schema)
        if resolved.get("type") == "object" and resolved.get("additionalProperties") is not False:
            open_bodies.append(f"{method} {path}")
    assert checked >= 20, checked
    assert open_bodies == [], f"bodies that accept any property: {open_bodies}"


def test_properties_a_caller_must_not_set_are_refused(stack: Stack, owned: Owned) -> None:
    a, admin, official = stack.headers("citizen_a"), stack.headers("admin"), stack.headers("official")
    dossier = owned.dossier
    submission = {"service_id": stack.service_id, "attachments": [],
                  "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                  "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip
    attempts = [
        ("POST", "/api/v1/dossier/dossiers", a, {**submission, "status": 10, "owner": "someone-else",
                                                "agency_code": "000.00.01.H26", "fee_total": 0}, {"status", "owner"}),
        ("POST", "/api/v1/dossier/drafts", a, {"service_id": stack.service_id, "owner": "x"}, {"owner"}),
        ("POST", f"/api/v1/dossier/dossiers/{dossier['dossier_id']}/rating", a,
         {"score": 5, "dossier_id": "x", "status": 10}, {"status"}),
        ("POST", "/api/v1/payment/orders", a, {"dossier_id": dossier["dossier_id"], "provider": "vnpay",
                                               "amount": 1, "state": "succeeded"}, {"amount", "state"}),
        ("POST", "/api/v1/identity/registrations/citizen", {}, {
            "personal_id": "079201099001", "full_name": "Kẻ Mạo Danh", "birth_date": "2001-02-03",
            "phone": "+84999000111", "password": "Mass-Assign-2026!", "kind": "admin",
            "roles": ["identity-admin"], "status": "active"}, {"kind", "roles", "status"}),
        ("PATCH", f"/api/v1/catalogue/services/{catalogue_service_id('1.002804', H22)}/draft", official,
         {"processing_days": 3, "agency_code": "000.00.01.H26"}, {"agency_code"}),
        ("PUT", f"/api/v1/sync/agencies/{H22}/endpoint", admin, {"mode": "pull", "agency_code": "000.00.01.H26",
                                                                 "state": "active"}, {"agency_code"}),
        ("POST", "/api/v1/identity/clients", admin, {"client_id": "mass-assign", "name": "x", "kind": "public",
                                                     "grant_types": ["authorization_code"],
                                                     "secret_hash": "0" * 64}, {"secret_hash"}),
    ]  # fmt: skip
    with stack.client() as api:
        for method, path, headers, body, named in attempts:
            answer = api.request(method, path, headers=headers, json=body)
            assert answer.status_code == 422, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
            fields = {e["field"].rsplit(".", 1)[-1] for e in answer.json()["errors"]}
            assert named <= fields, (path, fields)
        # Nothing was written: no client, no account, the dossier and the order as they were.
        assert "mass-assign" not in {c["client_id"] for c in api.get("/api/v1/identity/clients", headers=admin).json()}
        seen = api.get(f"/api/v1/dossier/dossiers/{dossier['dossier_id']}", headers=a).json()
        order = api.get(f"/api/v1/payment/orders/{owned.order['id']}", headers=a).json()
    assert seen["rating"] is None and seen["agency_code"] == H22 and seen["fee_total"] == dossier["fee_total"]
    assert order["amount"] == dossier["fee_total"] and order["state"] == "pending"


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in [(f"{path}.{k}", v), *_walk(v, f"{path}.{k}")]]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _walk(v, f"{path}[{i}]")]
    return []


def test_answers_hold_no_secret_and_mask_personal_identifiers(stack: Stack, owned: Owned) -> None:
    a, admin = stack.headers("citizen_a"), stack.headers("admin")
    signed_in = sign_in(stack, CITIZEN_LOGIN, CITIZEN_PASSWORD, ip="192.0.2.31", scope="openid profile phone email")
    reads = [
        ("/api/v1/identity/me", a),
        ("/oauth2/userinfo", {"Authorization": f"Bearer {signed_in['access_token']}"}),
        ("/api/v1/identity/clients", admin),
        (f"/api/v1/payment/orders/{owned.order['id']}", a),
        (f"/api/v1/sync/batches/{owned.batch_id}", stack.headers("province")),
        ("/api/v1/dossier/dossiers", stack.headers("official")),
        ("/.well-known/openid-configuration", {}),
    ]
    with stack.client() as api:
        answers = {path: api.get(path, headers=headers) for path, headers in reads}
    for path, answer in answers.items():
        assert answer.status_code == 200, (path, answer.text[:300])
        body = answer.json()
        leaks = [(where, value) for where, value in _walk(body) if SECRET_KEYS.match(where.rsplit(".", 1)[-1])]
        assert leaks == [], (path, leaks)
        assert ARGON2 not in answer.text and "PRIVATE KEY" not in answer.text, path
    me = answers["/api/v1/identity/me"].json()
    assert me["personal_id"] != "001099012345" and me["personal_id"].endswith("345")
    assert "0912345678" not in json.dumps(me) and "+84912345678" not in json.dumps(me)
    # A province reads its own batch: statuses and codes, nobody's identity.
    assert "001099012345" not in answers[f"/api/v1/sync/batches/{owned.batch_id}"].text


def test_the_public_lookup_tells_the_status_and_nothing_about_the_person(stack: Stack, owned: Owned) -> None:
    code = owned.dossier["code"]
    with stack.client() as api:
        found = api.get("/api/v1/dossier/lookup", params={"code": code, "verifier": owned.dossier["lookup_secret"]})
        wrong = api.get("/api/v1/dossier/lookup", params={"code": code, "verifier": "0000"})
        # A new receipt's secret replaces the identifier's last digits: those are guessable.
        digits = api.get("/api/v1/dossier/lookup", params={"code": code, "verifier": "2345"})
    assert found.status_code == 200 and found.json()["status"] in (1, 2)
    assert digits.status_code == 404
    text = json.dumps(found.json(), ensure_ascii=False)
    for personal in ("Nguyễn", "001099012345", "220123456789", "0912345678", "an.nguyen"):
        assert personal not in text, personal
    assert wrong.status_code == 404  # the verifier is not a detail to guess from the answer


def test_an_error_never_echoes_the_password_it_refused(stack: Stack) -> None:
    weak = "short"
    with stack.client() as api:
        answer = api.post("/api/v1/identity/registrations/citizen", json={
            "personal_id": "079201099002", "full_name": "Kiểm Thử", "birth_date": "2001-02-03",
            "phone": "+84999000112", "password": weak})  # fmt: skip
    assert answer.status_code == 422 and f'"{weak}"' not in answer.text
