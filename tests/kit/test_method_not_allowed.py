"""A 405 names every method its resource supports (RFC 9110 §15.5.6): walked over every path of
every service's OpenAPI document, ``Allow`` is the document's methods for that path."""

from __future__ import annotations

import importlib
import re
from typing import Any

import httpx
import pytest

from contracts.services import service_names

SERVICES = service_names()
DOCUMENTED = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBES = ("OPTIONS", "PATCH", "DELETE", "PUT", "POST", "GET")
SAMPLE = "00000000-0000-4000-8000-000000000000"  # fits every path parameter's pattern


def service_app(name: str) -> Any:
    module = importlib.import_module(f"services.{name}.app")
    return module.create_app(module.SERVICE.settings_cls(environment="test", log_json=False))


def client(app: Any) -> httpx.AsyncClient:
    """Straight to the app, without its lifespan: routing answers 405 before anything is used."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test")


def template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


@pytest.mark.parametrize("name", SERVICES)
async def test_every_405_allows_what_the_document_says(name: str) -> None:
    app = service_app(name)
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    checked = 0
    async with client(app) as api:
        for template, operations in paths.items():
            documented = {method.upper() for method in operations if method in DOCUMENTED}
            concrete = re.sub(r"\{[^}]+\}", SAMPLE, template)
            # The methods of every documented path the concrete one also matches (``/x/{id}`` and
            # ``/x/with-files`` are different resources, but a sample could match both).
            also = {m.upper() for t, ops in paths.items() if template_regex(t).match(concrete) for m in ops
                    if m in DOCUMENTED}  # fmt: skip
            for probe in (p for p in PROBES if p not in also):
                answer = await api.request(probe, concrete)
                assert answer.status_code == 405, (probe, concrete, answer.status_code)
                assert answer.headers["content-type"] == "application/problem+json"
                allowed = {m.strip() for m in answer.headers["allow"].split(",")}
                assert documented <= allowed, (probe, concrete, allowed, documented)
                assert allowed - {"HEAD"} <= also, (probe, concrete, allowed, also)
                checked += 1
    assert checked >= len(paths)


async def test_the_paths_the_issue_named_allow_get_too() -> None:
    async with client(service_app("dossier")) as api:
        assert (await api.options("/api/v1/dossier/drafts")).headers["allow"] == "GET, POST"
        assert (await api.options("/api/v1/dossier/dossiers")).headers["allow"] == "GET, POST"
        assert (await api.patch(f"/api/v1/dossier/drafts/{SAMPLE}")).headers["allow"] == "GET, PUT, DELETE"
