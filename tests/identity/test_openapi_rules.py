"""The OpenAPI documents state the rules the server enforces, so that generated clients check
them before they send: phone numbers, the 12-digit personal identifier, tax codes, non-empty
names, the authorization request's parameters, and the sign-in pages' 429 (a page, or a
problem for a client asking for JSON). Checked on each service's document and on the merge."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.openapi import merge
from services.dossier.app import create_app as dossier_app
from services.dossier.settings import DossierSettings
from services.identity.app import create_app as identity_app
from services.identity.settings import IdentitySettings
from services.kit.schemas import PersonalId, TaxCode, VietnameseMobile, VietnamesePhone

NOWHERE = {"database_url": "postgresql+asyncpg://u:p@127.0.0.1:1/none", "kafka_bootstrap_servers": "127.0.0.1:1",
           "environment": "test", "log_json": False}  # fmt: skip


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {
        "identity": identity_app(IdentitySettings(**NOWHERE)).openapi(),
        "dossier": dossier_app(DossierSettings(**NOWHERE)).openapi(),
    }


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def _field(doc: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    found = _schema(doc, model)["properties"][field]
    # An optional field is anyOf [the type, null].
    return next((s for s in found.get("anyOf", []) if s.get("type") == "string"), found)


def test_registration_bodies_state_identifier_phone_and_name_rules(documents) -> None:
    identity = documents["identity"]
    citizen = {f: _field(identity, "CitizenRegistration", f) for f in ("personal_id", "phone", "full_name")}
    assert citizen["personal_id"]["pattern"] == "^[0-9]{12}$"
    assert citizen["personal_id"]["minLength"] == citizen["personal_id"]["maxLength"] == 12
    assert re.search(citizen["phone"]["pattern"], "0912 345 678") and not re.search(citizen["phone"]["pattern"], "024")
    assert citizen["full_name"]["minLength"] == 1
    enterprise = {f: _field(identity, "EnterpriseRegistration", f) for f in ("tax_code", "name")}
    assert enterprise["tax_code"]["pattern"] == "^[0-9]{10}(-[0-9]{3})?$"
    assert enterprise["name"]["minLength"] == 1
    assert _field(identity, "ResetStart", "phone")["pattern"] == citizen["phone"]["pattern"]


def test_the_dossier_applicant_states_its_phone_rule(documents) -> None:
    phone = _field(documents["dossier"], "ApplicantCreate", "phone")
    assert re.search(phone["pattern"], "+84 24 3825 1234") and not re.search(phone["pattern"], "gọi tôi")


@pytest.mark.parametrize(
    ("kind", "value", "documented", "accepted"),
    [
        (VietnameseMobile, "0912345678", True, True),
        (VietnameseMobile, "0552345678", True, False),  # a pattern cannot say which ranges are allocated
        (VietnameseMobile, "0241234567", False, False),
        (VietnamesePhone, "02438251234", True, True),
        (PersonalId, "001099012345", True, True),
        (PersonalId, "00109901234", False, False),
        (TaxCode, "0101234565-001", True, True),
        (TaxCode, "0101234565-1", False, False),
    ],
)
def test_what_the_document_refuses_the_server_refuses(kind: Any, value: str, documented: bool, accepted: bool) -> None:
    """The server never accepts what the documented pattern refuses (it refuses more only where a
    pattern cannot say it)."""
    pattern = TypeAdapter(kind).json_schema()["pattern"]
    assert bool(re.search(pattern, value)) is documented
    try:
        TypeAdapter(kind).validate_python(value)
        ok = True
    except ValidationError:
        ok = False
    assert ok is accepted


def test_the_authorization_request_parameters_are_stated(documents) -> None:
    operation = documents["identity"]["paths"]["/oauth2/authorize"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {n for n, p in parameters.items() if p["required"]} == {"response_type", "client_id", "redirect_uri",
                                                                      "scope"}  # fmt: skip
    assert parameters["response_type"]["schema"]["enum"] == ["code"]
    assert parameters["code_challenge_method"]["schema"]["enum"] == ["S256"]
    assert re.search(parameters["code_challenge"]["schema"]["pattern"], "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert re.search(parameters["scope"]["schema"]["pattern"], "profile openid")
    assert not re.search(parameters["scope"]["schema"]["pattern"], "profile openidx")
    prompt = parameters["prompt"]["schema"]["pattern"]
    assert re.search(prompt, "login consent") and not re.search(prompt, "none login")
    assert parameters["max_age"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 10**8}
    assert {parameters[n]["schema"]["maxLength"] for n in ("state", "nonce", "login_hint")} == {512}


@pytest.mark.parametrize("path", ["/oauth2/authorize", "/oauth2/logout"])
def test_the_sign_in_pages_document_their_429_as_a_page_or_a_problem(documents, path: str) -> None:
    merged = merge(documents, title="portal", version="1")
    for method in ("get", "post"):
        too_many = merged["paths"][path][method]["responses"]["429"]
        assert set(too_many["content"]) == {"text/html", "application/problem+json"}
        assert "Retry-After" in too_many["headers"]
        ref = too_many["content"]["application/problem+json"]["schema"]["$ref"]
        assert ref.rsplit("/", 1)[1] in merged["components"]["schemas"]
