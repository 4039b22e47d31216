"""One OpenAPI document for the whole portal, merged from the services' own, and the docs UI.

Each service already writes its paths with the ``/api/v1/<service>`` prefix, so paths merge
as they are. Schemas share one namespace: an identical schema of the same name is kept
once; a different one is renamed ``<Service><Name>`` and that service's ``$ref``s follow.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from contracts.json import OpenApi
from services.kit.errors import NotFound
from services.kit.logging import get_logger
from services.kit.openapi import HTTP_METHODS, rewrite_refs
from services.kit.problems import PROBLEM_TYPES, ProblemTypeJson
from services.kit.settings import Environment

from .proxy import service_for_path
from .settings import GatewaySettings

log = get_logger(__name__)

DOCS_STATIC = "/docs/static"
# An incomplete document is kept only briefly, so a service that comes back shows up soon.
DEGRADED_CACHE_SECONDS = 5.0

Document = OpenApi


def merge(
    documents: Mapping[str, Document | None],
    *,
    title: str,
    version: str,
    problem_types: Sequence[ProblemTypeJson] = (),
) -> Document:
    """Merge the services' documents, in order; a None document is a service that is down.
    ``problem_types`` are the gateway's own (``x-problem-types``), listed before the services'."""
    merged: Document = {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": {},
                        "components": {"schemas": {}}, "tags": [], PROBLEM_TYPES: list(problem_types)}  # fmt: skip
    available = {name: doc for name, doc in documents.items() if doc is not None}
    if available:
        merged["openapi"] = next(iter(available.values())).get("openapi", "3.1.0")
    for service, doc in available.items():
        _merge_one(merged, service, doc, documents)
        _merge_problem_types(merged[PROBLEM_TYPES], doc.get(PROBLEM_TYPES) or [], service)
    if unavailable := [name for name, doc in documents.items() if doc is None]:
        merged["x-unavailable-services"] = unavailable
    return merged


def _merge_one(merged: Document, service: str, doc: Document, services: Mapping[str, Any]) -> None:
    components = doc.get("components") or {}
    schemas = components.get("schemas") or {}
    renames = schema_renames(service, schemas, merged["components"]["schemas"])
    doc = rewrite_refs(doc, renames)
    for name, schema in (doc.get("components") or {}).get("schemas", {}).items():
        merged["components"]["schemas"].setdefault(renames.get(name, name), schema)
    for kind, entries in components.items():
        if kind != "schemas":
            _merge_first_wins(merged["components"].setdefault(kind, {}), entries, f"components.{kind}", service)
    for path, item in (doc.get("paths") or {}).items():
        # Only what the gateway actually routes to this service is reachable through it.
        if service_for_path(path, services) == service:
            merged["paths"][path] = _tag_operations(item, service)
    merged["tags"].append({"name": service, "description": (doc.get("info") or {}).get("title", service)})
    known = {tag["name"] for tag in merged["tags"]}
    merged["tags"].extend(tag for tag in doc.get("tags") or [] if tag.get("name") not in known)


def _merge_problem_types(merged: list[Document], entries: Sequence[Document], service: str) -> None:
    """Adds ``entries`` not yet listed; a slug two services describe differently keeps the first."""
    known = {entry["slug"]: entry for entry in merged}
    for entry in entries:
        if not isinstance(entry, dict) or "slug" not in entry:
            continue
        if (first := known.get(entry["slug"])) is None:
            merged.append(entry)
            known[entry["slug"]] = entry
        elif (first.get("title"), first.get("statuses")) != (entry.get("title"), entry.get("statuses")):
            # One type, one title (RFC 9457 §3.1.3); what it means may be told by either service.
            log.warning("conflicting problem type kept from an earlier service", slug=entry["slug"], service=service)


def schema_renames(service: str, schemas: Mapping[str, Any], existing: Mapping[str, Any]) -> dict[str, str]:
    """New names for ``service``'s schemas that clash with different ones already merged.

    Renaming one schema changes the schemas that refer to it, which may then clash in turn
    (two identical-looking ``Page``s of different ``Item``s), so repeat until nothing new does."""
    renames: dict[str, str] = {}
    while True:
        clashing = [
            name for name, schema in rewrite_refs(dict(schemas), renames).items()
            if name not in renames and name in existing and existing[name] != schema
        ]  # fmt: skip
        if not clashing:
            return renames
        for name in clashing:
            renames[name] = _free_name(service.capitalize() + name, {*existing, *schemas, *renames.values()})


def _free_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}{n}", n + 1
    return name


def _tag_operations(item: OpenApi, service: str) -> OpenApi:
    for method in HTTP_METHODS:
        if isinstance(operation := item.get(method), dict) and not operation.get("tags"):
            operation["tags"] = [service]
    return item


def _merge_first_wins(target: OpenApi, entries: Mapping[str, Any], where: str, service: str) -> None:
    for name, value in entries.items():
        if name not in target:
            target[name] = value
        elif target[name] != value:
            log.warning("conflicting OpenAPI component kept from an earlier service", where=where, name=name,
                        service=service)  # fmt: skip


class OpenAPIAggregator:
    """Fetches and merges the services' documents, caching the result for ``ttl`` seconds."""

    def __init__(self, client: httpx.AsyncClient, upstreams: Mapping[str, str], *, ttl: float, timeout: float,
                 title: str, version: str, problem_types: Sequence[ProblemTypeJson] = ()) -> None:  # fmt: skip
        self._client = client
        self._upstreams = dict(upstreams)
        self._ttl = ttl
        self._timeout = timeout
        self._title = title
        self._version = version
        self._problem_types = list(problem_types)
        self._cached: tuple[float, Document] | None = None
        # One refresh at a time: concurrent callers wait for it rather than all fetching.
        self._lock = asyncio.Lock()

    async def document(self) -> Document:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now < self._cached[0]:
                return self._cached[1]
            names = list(self._upstreams)
            docs = await asyncio.gather(*(self._fetch(name) for name in names))
            document = merge(dict(zip(names, docs, strict=True)), title=self._title, version=self._version,
                             problem_types=self._problem_types)  # fmt: skip
            ttl = self._ttl if "x-unavailable-services" not in document else min(self._ttl, DEGRADED_CACHE_SECONDS)
            self._cached = (now + ttl, document)
            return document

    async def _fetch(self, service: str) -> Document | None:
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.get(f"{self._upstreams[service]}/openapi.json")
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            log.warning("OpenAPI document unavailable", service=service, error=type(exc).__name__)
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            log.warning("OpenAPI document malformed", service=service)
            return None
        return doc


# Swagger UI 5 reads OpenAPI 3.1 as it is. Everything it needs is served from here (no CDN, no
# external validator); the page runs no inline script, so a strict CSP holds: its settings travel as
# JSON data, read by DOCS_INIT. The Authorize button follows the document's openIdConnect scheme to
# our own discovery document, and signs in with the authorization code and PKCE as a public client.
_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script id="docs-config" type="application/json">{config}</script>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{init}"></script>
</body>
</html>
"""
DOCS_INIT = "/docs/init.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect.html"
_DOCS_INIT_SCRIPT = """"use strict";
(function () {
  var config = JSON.parse(document.getElementById("docs-config").textContent);
  window.ui = SwaggerUIBundle({
    url: config.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    oauth2RedirectUrl: config.redirectUrl,
    persistAuthorization: false,
  });
  window.ui.initOAuth({
    clientId: config.clientId,
    usePkceWithAuthorizationCodeGrant: true,
    scopes: config.scopes,
  });
})();
"""
# What a page of Swagger UI may load: itself, the document and the discovery document (at the
# issuer, which is this gateway's public URL), and the images its CSS inlines.
_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' {issuer}; form-action 'self' {issuer}; frame-ancestors 'none'; base-uri 'none'"
)


def docs_router(title: str) -> APIRouter:
    """``/openapi.json`` (merged) and ``/docs`` (Swagger UI 5 from local assets, no CDN; not in
    production), with its initializer and OAuth2 redirect page."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await request.app.state.openapi.document())

    def _settings(request: Request) -> GatewaySettings:
        settings: GatewaySettings = request.app.state.settings
        # Interactive docs are for developers: a production gateway answers as if there were none.
        if settings.environment == Environment.PRODUCTION:
            raise NotFound()
        return settings

    @router.get("/docs")
    async def docs(request: Request) -> HTMLResponse:
        settings = _settings(request)
        config = {"openapiUrl": "/openapi.json", "clientId": settings.docs_client_id, "scopes": "openid",
                  "redirectUrl": settings.public_url + OAUTH2_REDIRECT}  # fmt: skip
        # Inside <script>, "</" would end the element: JSON may spell it "<\/".
        data = json.dumps(config).replace("</", "<\\/")
        page = _DOCS_PAGE.format(title=html.escape(title), static=DOCS_STATIC, init=DOCS_INIT, config=data)
        return HTMLResponse(page, headers={"Content-Security-Policy": _DOCS_CSP.format(issuer=settings.public_url)})

    @router.get(DOCS_INIT)
    async def docs_init(request: Request) -> Response:
        _settings(request)
        return Response(_DOCS_INIT_SCRIPT, media_type="text/javascript; charset=utf-8")

    @router.get(OAUTH2_REDIRECT)
    async def oauth2_redirect(request: Request) -> Response:
        """Where the OpenID provider sends the browser back with the code; Swagger UI's page hands it
        to the window that opened it. Its script is in the assets (``oauth2-redirect.js``)."""
        settings = _settings(request)
        page = (docs_assets_path(settings) / "oauth2-redirect.html").read_text(encoding="utf-8")
        page = page.replace('src="oauth2-redirect.js"', f'src="{DOCS_STATIC}/oauth2-redirect.js"')
        return HTMLResponse(page, headers={"Content-Security-Policy": _DOCS_CSP.format(issuer=settings.public_url)})

    return router


def docs_assets_path(settings: GatewaySettings) -> Path:
    """Swagger UI's files: the configured folder, else the packaged ones."""
    return Path(settings.docs_assets_dir) if settings.docs_assets_dir else Path(str(swagger_ui_path))


def docs_assets(settings: GatewaySettings) -> StaticFiles:
    return StaticFiles(directory=str(docs_assets_path(settings)))
