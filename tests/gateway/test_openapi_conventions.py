"""The merged OpenAPI document follows the conventions clients are generated from (see
``services.kit.openapi`` and docs/api.md), checked on the real services' documents."""

from __future__ import annotations

import importlib
import re
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends

from gateway.openapi import merge
from gateway.settings import SERVICES
from services.kit.auth import demands_token, require_scopes
from services.kit.openapi import HTTP_METHODS, route_security

NOWHERE = {"database_url": "postgresql+asyncpg://u:p@127.0.0.1:1/none", "kafka_bootstrap_servers": "127.0.0.1:1",
           "environment": "test", "log_json": False}  # fmt: skip


def service_documents() -> dict[str, dict[str, Any]]:
    """Each service's own document, from its app as the service builds it (no database needed)."""
    documents = {}
    for name in SERVICES:
        module = importlib.import_module(f"services.{name}.app")
        documents[name] = module.create_app(module.SERVICE.settings_cls(**NOWHERE)).openapi()
    return documents


def merged_document() -> dict[str, Any]:
    return merge(service_documents(), title="Portal", version="1")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return merged_document()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in HTTP_METHODS]  # fmt: skip


def test_operation_ids_are_short_unique_camel_case(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) > 80
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    bad = [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) or len(i) > 30]
    assert not bad, bad


def test_every_operation_is_tagged_with_its_service_alone(document: dict[str, Any]) -> None:
    assert [tag["name"] for tag in document["tags"]] == list(SERVICES)
    for _, path, op in operations(document):
        service = "identity" if path.startswith(("/oauth2/", "/.well-known/")) else path.split("/")[3]
        assert op["tags"] == [service], (path, op["tags"])


def test_schema_names_carry_no_module_path_nor_generated_prefix(document: dict[str, Any]) -> None:
    names = list(document["components"]["schemas"])
    assert not [n for n in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)], names
    assert {"Outcome", "EditOutcome", "UploadAttachmentForm", "SubmitDossierWithFilesForm"} <= set(names)


def test_binary_answers_and_uploads_are_binary_strings_under_their_media_type(document: dict[str, Any]) -> None:
    binary = {"type": "string", "format": "binary"}
    paths = document["paths"]
    qr = paths["/api/v1/dossier/dossiers/{dossier_id}/receipt.png"]["get"]["responses"]["200"]["content"]
    assert qr == {"image/png": {"schema": binary}}
    files = paths["/api/v1/dossier/dossiers/{dossier_id}/attachments/{attachment_id}"]["get"]["responses"]["200"]
    assert files["content"] == {t: {"schema": binary} for t in ("application/pdf", "image/jpeg", "image/png")}
    assert paths["/api/v1/payment/orders/{order_id}/vietqr.png"]["get"]["responses"]["200"]["content"] == qr
    for path in ("/api/v1/payment/reconciliations", "/api/v1/catalogue/imports"):
        assert paths[path]["post"]["requestBody"]["content"]["text/csv"] == {"schema": binary}
    forms = document["components"]["schemas"]
    assert forms["UploadAttachmentForm"]["properties"]["file"]["format"] == "binary"
    assert forms["SubmitDossierWithFilesForm"]["properties"]["files"]["items"]["format"] == "binary"


def test_every_2xx_body_has_a_schema(document: dict[str, Any]) -> None:
    missing = [
        (method, path, status, media)
        for method, path, op in operations(document)
        for status, answer in op["responses"].items() if status.startswith("2")
        for media, content in (answer.get("content") or {"none": {}}).items()
        if "schema" not in content and status != "204"
    ]  # fmt: skip
    assert not missing, missing


def test_every_operation_states_the_token_it_needs_as_the_services_check_it(document: dict[str, Any]) -> None:
    """Against the security tests' own table of who may call what (``tests.security.routes``):
    public operations declare no security; the others accept the portal's access token either
    way (OpenID Connect or bearer), with the scope the service demands among the alternatives."""
    from tests.security.routes import RULES

    schemes = document["components"]["securitySchemes"]
    assert schemes["openIdConnect"]["openIdConnectUrl"].endswith("/.well-known/openid-configuration")
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    wrong = []
    for method, path, op in operations(document):
        rule, security = RULES[(method, path)], op.get("security")
        if rule.who == "public":
            wrong += [(method, path, security)] if security else []
            continue
        alternatives = {tuple(scopes) for requirement in security or [] for scopes in requirement.values()}
        by_scheme = {scheme for requirement in security or [] for scheme in requirement}
        expected = (rule.scope,) if rule.scope else None
        if by_scheme != set(schemes) or (expected is not None and expected not in alternatives):
            wrong.append((method, path, security))
    assert not wrong, wrong


@demands_token({"catalogue:admin"}, {"catalogue:edit"})
def an_editor() -> None:
    """A dependency passing either of two scopes (as the catalogue's editors do)."""


def test_either_of_a_dependencys_scope_sets_and_every_dependency_must_pass() -> None:
    router = APIRouter()

    @router.get("/x")
    def both(a: Annotated[None, Depends(an_editor)], b: Annotated[Any, require_scopes("dossier:read")]) -> None: ...

    assert route_security(router.routes[0]) == [  # type: ignore[arg-type]
        {"openIdConnect": ["catalogue:admin", "dossier:read"]}, {"bearerToken": ["catalogue:admin", "dossier:read"]},
        {"openIdConnect": ["catalogue:edit", "dossier:read"]}, {"bearerToken": ["catalogue:edit", "dossier:read"]},
    ]  # fmt: skip
