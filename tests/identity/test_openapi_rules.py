"""The OpenAPI documents state the rules the server enforces, so that generated clients check
them before they send: phone numbers, the 12-digit personal identifier, tax codes, non-empty
names, the authorization request's parameters, and the sign-in pages' 429 (a page, or a
problem for a client asking for JSON). Checked on each service's document and on the merge."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.openapi import merge
from services.dossier.app import create_app as dossier_app
from services.dossier.settings import DossierSettings
from services.identity.api.schemas import ClientCreate
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
    # The province codes are in the pattern (a personal id of province 000 is refused by it).
    assert re.search(citizen["personal_id"]["pattern"], "001099012345")
    assert not re.search(citizen["personal_id"]["pattern"], "000000000000")
    assert citizen["personal_id"]["minLength"] == citizen["personal_id"]["maxLength"] == 12
    assert re.search(citizen["phone"]["pattern"], "0912 345 678") and not re.search(citizen["phone"]["pattern"], "024")
    assert citizen["full_name"]["minLength"] == 1
    enterprise = {f: _field(identity, "EnterpriseRegistration", f) for f in ("tax_code", "name")}
    assert re.search(enterprise["tax_code"]["pattern"], "0101234565-001")
    assert not re.search(enterprise["tax_code"]["pattern"], "0101234565-000")  # branches are 001 to 999
    # What a pattern cannot say is a named format (docs/api.md): the check digit, the allocation.
    assert (enterprise["tax_code"]["format"], citizen["phone"]["format"]) == ("vn-tax-code", "vn-mobile")
    assert _field(identity, "CitizenRegistration", "password")["format"] == "new-password"
    assert enterprise["name"]["minLength"] == 1
    assert _field(identity, "ResetStart", "phone")["pattern"] == citizen["phone"]["pattern"]


def test_the_dossier_applicant_states_its_phone_rule(documents) -> None:
    phone = _field(documents["dossier"], "ApplicantCreate", "phone")
    assert re.search(phone["pattern"], "+84 24 3825 1234") and not re.search(phone["pattern"], "gọi tôi")
    assert phone["format"] == "vn-phone"  # the kit's type: the same format and check as identity's


@pytest.mark.parametrize(
    ("kind", "value", "documented", "accepted"),
    [
        (VietnameseMobile, "0912345678", True, True),
        (VietnameseMobile, "0552345678", True, False),  # a pattern cannot say which ranges are allocated
        (VietnameseMobile, "0241234567", False, False),
        (VietnamesePhone, "02438251234", True, True),
        (PersonalId, "001099012345", True, True),
        (PersonalId, "00109901234", False, False),
        (PersonalId, "000099012345", False, False),  # no province 000
        (PersonalId, "003099012345", False, False),  # a gap in the numbering
        (TaxCode, "0101234565-001", True, True),
        (TaxCode, "0101234565-1", False, False),
        (TaxCode, "0101234565-000", False, False),
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


def test_the_totp_code_is_six_digits(documents) -> None:
    code = _field(documents["identity"], "TotpConfirm", "code")
    assert re.search(code["pattern"], "123456") and not re.search(code["pattern"], "0")


@pytest.mark.parametrize(
    ("client", "valid"),
    [
        ({"grant_types": ["authorization_code"]}, False),  # the server: "needs redirect URIs"
        ({"grant_types": ["authorization_code"], "redirect_uris": ["https://a.example/cb"]}, True),
        ({"kind": "public", "grant_types": ["client_credentials"], "redirect_uris": []}, False),
        ({"kind": "public", "grant_types": ["refresh_token"], "token_endpoint_auth_method": "client_secret_basic"},
         False),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}, False),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}, False),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
          "jwks": {"keys": [{"kty": "RSA"}]}}, True),
        ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "magic"}, False),
    ],
)  # fmt: skip
def test_the_client_registration_states_its_metadata_rules(client: dict[str, Any], valid: bool) -> None:
    """What ``create_client`` refuses as invalid client metadata, the schema refuses too."""
    body = {"client_id": "demo-client", "name": "Demo", "kind": "confidential", **client}
    assert jsonschema_rs.validator_for(ClientCreate.model_json_schema()).is_valid(body) is valid


@pytest.mark.parametrize(
    ("path", "required"),
    [("/oauth2/token", ["grant_type"]), ("/oauth2/introspect", ["token"]), ("/oauth2/revoke", ["token"]),
     ("/oauth2/authorize", ["response_type", "client_id", "redirect_uri", "scope"]), ("/oauth2/logout", [])],
)  # fmt: skip
def test_the_oauth_endpoints_declare_the_forms_they_read(documents, path: str, required: list[str]) -> None:
    body = documents["identity"]["paths"][path]["post"]["requestBody"]
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == required and body["required"] is bool(required)
    assert all(field["maxLength"] <= 4096 for field in form["properties"].values())
    if path in ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"):
        assert {"client_id", "client_secret", "client_assertion", "client_assertion_type"} <= set(form["properties"])


def test_logout_declares_its_parameters_and_its_pages(documents) -> None:
    (exploded,) = documents["identity"]["paths"]["/oauth2/logout"]["get"]["parameters"]
    assert (exploded["in"], exploded["style"], exploded["explode"]) == ("query", "form", True)
    fields = exploded["schema"]["properties"]
    assert set(fields) == {"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales",
                           "logout_hint"}  # fmt: skip
    assert re.search(fields["id_token_hint"]["pattern"], "a.b.c")
    assert not re.search(fields["id_token_hint"]["pattern"], "not a token")
    posted = documents["identity"]["paths"]["/oauth2/logout"]["post"]["requestBody"]["content"]
    for schema in (exploded["schema"], posted["application/x-www-form-urlencoded"]["schema"]):
        rule = jsonschema_rs.validator_for({"dependentSchemas": schema["dependentSchemas"]})
        assert not rule.is_valid({"post_logout_redirect_uri": "https://a.example/"})
        assert rule.is_valid({"post_logout_redirect_uri": "https://a.example/", "client_id": "demo-web"})
    for method in ("get", "post"):
        responses = documents["identity"]["paths"]["/oauth2/logout"][method]["responses"]
        assert set(responses["404"]["content"]) == set(responses["400"]["content"]) == {"text/html"}


def test_an_unknown_client_at_the_authorization_endpoint_is_a_documented_404_page(documents) -> None:
    for method in ("get", "post"):
        not_found = documents["identity"]["paths"]["/oauth2/authorize"][method]["responses"]["404"]
        assert set(not_found["content"]) == {"text/html"} and "client" in not_found["description"]
