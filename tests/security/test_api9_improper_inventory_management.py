"""OWASP API9:2023 Improper Inventory Management.

The merged OpenAPI document the gateway serves is the inventory: every route a service serves
where the gateway routes (``/api/v1/<service>/…``, ``/.well-known/…``, ``/oauth2/…``) is in it and
every operation in it is served, with nothing undocumented but the one development-only route
(which a production service answers as absent); every operation is classified for the security
tests (``routes.py``); the gateway's own routes are a known short list; there is no other API
version; and in production the interactive docs are not served.
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from gateway.app import create_app as create_gateway
from gateway.proxy import service_for_path
from gateway.settings import SERVICES, GatewaySettings
from tests.security.routes import RULES, operations
from tests.support.servers import serve
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

# Served but deliberately undocumented: development only (404 in production, see below).
DEVELOPMENT_ONLY = {("GET", "/api/v1/identity/dev/messages")}
# What the gateway answers itself (probes, metrics, the merged document and its docs).
GATEWAY_OWN = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/static"}


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    return httpx.get(f"{stack.url}/openapi.json", timeout=30).json()  # type: ignore[no-any-return]


def served_by_services() -> set[tuple[str, str]]:
    """Every (METHOD, path) the five services route where the gateway forwards: the routes of
    their specs' routers, under the prefix the kit mounts them at (``kit.app.build_app``)."""
    served = set()
    for name in SERVICES:
        spec = importlib.import_module(f"services.{name}.app").SERVICE
        mounted = [(spec.api_prefix, r) for r in spec.routers] + [("", r) for r in spec.root_routers]
        for prefix, router in mounted:
            for route in router.routes:
                assert isinstance(route, APIRoute), f"{name}: a nested router; read its routes too"
                path = prefix + route.path
                if service_for_path(path, SERVICES) == name:
                    served |= {(method, path) for method in route.methods - {"HEAD"}}
    return served


def test_what_the_services_serve_is_what_the_document_says(stack: Stack, document: dict[str, Any]) -> None:
    documented = set(operations(document))
    served = served_by_services()
    assert served - documented == DEVELOPMENT_ONLY, f"served, undocumented: {sorted(served - documented)}"
    assert documented - served == set(), f"documented, not served: {sorted(documented - served)}"
    assert len(documented) >= 70


def test_every_documented_operation_is_classified_for_the_security_tests(document: dict[str, Any]) -> None:
    documented = set(operations(document))
    assert documented - set(RULES) == set(), f"classify in tests/security/routes.py: {sorted(documented - set(RULES))}"
    assert set(RULES) - documented == set(), f"no longer in the API: {sorted(set(RULES) - documented)}"


def test_every_documented_operation_answers_through_the_gateway(stack: Stack, document: dict[str, Any]) -> None:
    """Routed and matched: never the gateway's 'no service here' nor a method-not-allowed."""
    with stack.client(follow_redirects=False) as api:
        for method, path in operations(document):
            url = path.replace("{", "").replace("}", "")  # a (wrong) value for each parameter
            answer = api.request(method, url)
            assert answer.status_code != 405, (method, path)
            assert "No service answers" not in answer.text, (method, path)


def test_the_gateway_serves_only_its_known_routes_and_one_api_version(stack: Stack) -> None:
    with stack.client() as api:
        for path in sorted(GATEWAY_OWN):
            assert api.get(path).status_code in (200, 404), path  # 404: /docs/static has no index
        for path in ("/api/v2/dossier/dossiers", "/api/v0/catalogue/sectors", "/api/dossier/dossiers", "/admin",
                     "/api/v1/identity/../../metrics", "/api/v1/dossier/openapi.json", "/api/v1/dossier/metrics",
                     "/api/v1/dossier/healthz", "/.env", "/debug"):  # fmt: skip
            answer = api.get(path)
            assert answer.status_code == 404, (path, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json", path


def test_production_serves_no_docs_and_no_development_route(stack: Stack) -> None:
    production = stack.gateway_settings.model_copy(update={"environment": "production"})
    identity = importlib.import_module("services.identity.app")
    production_identity = stack.settings["identity"].model_copy(update={"environment": "production"})
    with serve(create_gateway(production)) as gateway, serve(identity.create_app(production_identity)) as service:
        stack.portal_log.attach()
        docs = httpx.get(f"{gateway}/docs", timeout=30)
        document = httpx.get(f"{gateway}/openapi.json", timeout=30)
        messages = httpx.get(f"{service}/api/v1/identity/dev/messages", params={"to": "0912345678"}, timeout=30)
    with stack.client() as api:
        development = api.get("/docs")  # the control: the stack runs in the test environment
    assert development.status_code == 200
    assert docs.status_code == 404 and docs.headers["content-type"] == "application/problem+json"
    assert document.status_code == 200  # the API description itself stays published
    assert messages.status_code == 404


def test_production_settings_cannot_be_given_development_urls() -> None:
    with pytest.raises(ValueError, match="refusing production settings"):
        GatewaySettings(environment="production", public_url="https://dichvucong.example.vn")
