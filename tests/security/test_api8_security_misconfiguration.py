"""OWASP API8:2023 Security Misconfiguration, through the gateway.

Browsers: only the configured origins are let in by CORS, never every origin, never with
credentials; the sign-in page forbids framing, foreign scripts and foreign form targets, and its
cookies are HttpOnly. Errors: whatever the input (malformed JSON, wrong types, unknown paths and
methods, TRACE), the answer is an RFC 9457 problem without stack trace, SQL or library names, and
even an unexpected failure inside a service says only "Internal error". Every answer carries the
usual security headers. Production settings refuse development values (open CORS, loopback
URLs, placeholder secrets).

Also: tests/gateway/test_gateway_settings.py, tests/kit/test_services.py, tests/e2e/test_sign_in_in_a_browser.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from contracts.services import service_names
from gateway.app import create_app as create_gateway
from gateway.headers import SecurityHeadersMiddleware
from gateway.settings import GatewaySettings
from services.kit.problems import install_problem_handlers
from tests.security.conftest import WEB_CLIENT, WEB_REDIRECT, pkce_pair
from tests.support.servers import serve
from tests.support.stack import ALLOWED_ORIGIN, Stack

pytestmark = pytest.mark.integration

# The checkout's own folder, wherever it is, is a leak too.
LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "SELECT ", "INSERT ", "pydantic", "starlette",
         str(Path(__file__).resolve().parents[2]), "site-packages", "line ")  # fmt: skip
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def test_cors_lets_in_only_the_configured_origins(stack: Stack) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    with stack.client() as api:
        allowed = api.options("/api/v1/dossier/dossiers", headers={"Origin": ALLOWED_ORIGIN, **ask})
        evil = api.options("/api/v1/dossier/dossiers", headers={"Origin": "https://evil.example", **ask})
        simple = api.get("/api/v1/catalogue/sectors", headers={"Origin": "https://evil.example"})
        lookalike = api.get("/api/v1/catalogue/sectors", headers={"Origin": ALLOWED_ORIGIN + ".evil.example"})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    for answer in (evil, simple, lookalike):
        assert "access-control-allow-origin" not in answer.headers, answer.headers
    assert evil.status_code == 400


def test_production_settings_refuse_development_values() -> None:
    production = {"environment": "production", "public_url": "https://dichvucong.example.vn",
                  **{f"{s}_url": f"https://{s}.internal.example.vn" for s in service_names()}}  # fmt: skip
    GatewaySettings(**production, cors_origins=[ALLOWED_ORIGIN])  # the control: a sound configuration
    for bad in ({"cors_origins": ["*"]}, {"cors_origins": ["http://localhost:3000"]},
                {"identity_url": "http://127.0.0.1:8001"}):  # fmt: skip
        with pytest.raises(ValidationError):
            GatewaySettings(**{**production, **bad})


def test_the_sign_in_page_cannot_be_framed_nor_load_anything_foreign(stack: Stack) -> None:
    _, challenge = pkce_pair()
    params = {"client_id": WEB_CLIENT, "redirect_uri": WEB_REDIRECT, "response_type": "code", "scope": "openid",
              "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
    with stack.client() as api:
        page = api.get("/oauth2/authorize", params=params)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "http://127.0.0.1:8765" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "<script" not in page.text.lower()


def _abuse(stack: Stack) -> dict[str, httpx.Response]:
    citizen = stack.headers("citizen_a")
    json_header = {**citizen, "Content-Type": "application/json"}
    with stack.client() as api:
        return {
            "malformed JSON": api.post("/api/v1/dossier/drafts", headers=json_header, content=b'{"service_id": '),
            "wrong types": api.post("/api/v1/dossier/drafts", headers=citizen, json={"service_id": [1], "content": 7}),
            "not JSON at all": api.post(
                "/api/v1/sync/records",
                headers={**stack.headers("province"), "Content-Type": "application/json"},
                content=b"\xff\xfe<xml/>",
            ),
            "huge number": api.get("/api/v1/sync/feed", headers=stack.headers("province"), params={"after": "9" * 40}),
            "unknown path": api.get("/api/v1/dossier/secret-admin"),
            "unknown service": api.get("/api/v1/nothing/here"),
            "dot segments": api.get("/api/v1/dossier/../identity/me"),
            "wrong method": api.delete("/api/v1/catalogue/sectors"),
            "TRACE": api.request("TRACE", "/api/v1/catalogue/sectors", headers={"X-Probe": "reflect-me"}),
            "bad query": api.get("/api/v1/catalogue/services", params={"limit": "many", "unknown": "1"}),
        }


def test_bad_input_gets_a_problem_that_gives_nothing_away(stack: Stack) -> None:
    for what, answer in _abuse(stack).items():
        assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"] == "application/problem+json", what
        body: dict[str, Any] = answer.json()
        assert body["status"] == answer.status_code and body["type"].startswith("/problems/"), what
        for leak in LEAKS:
            assert leak not in answer.text, (what, leak, answer.text[:300])
        assert "reflect-me" not in answer.text, what


def test_an_unexpected_failure_says_internal_error_and_nothing_more(stack: Stack) -> None:
    """A service's unexpected exception (here one carrying SQL and a secret, as a database error
    does) behind the real gateway: the caller learns nothing of it."""
    broken = FastAPI(debug=False)
    install_problem_handlers(broken)

    @broken.get("/api/v1/catalogue/sectors")
    async def fail() -> None:
        raise RuntimeError("SELECT password_hash FROM accounts WHERE personal_id = '001099012345'")

    with serve(broken) as url:
        settings = stack.gateway_settings.model_copy(update={"catalogue_url": url})
        with serve(create_gateway(settings)) as gateway, httpx.Client(base_url=gateway, timeout=30) as api:
            answer = api.get("/api/v1/catalogue/sectors")
    stack.portal_log.attach()  # building the gateway reconfigured logging
    assert answer.status_code == 500 and answer.json()["title"] == "Internal error"
    for leak in (*LEAKS, "password_hash", "001099012345", "RuntimeError"):
        assert leak not in answer.text, leak


def _headers_missing(answer: httpx.Response) -> dict[str, str | None]:
    return {k: answer.headers.get(k) for k, v in SECURITY_HEADERS.items() if answer.headers.get(k) != v}


def test_security_headers_with_the_proposed_gateway_middleware(stack: Stack) -> None:
    """gateway/headers.py, wired in front of the real services (the one line proposed for
    gateway/app.py): nosniff, no referrer, no framing, and no-store for credentialed answers."""
    app = create_gateway(stack.gateway_settings)
    app.add_middleware(SecurityHeadersMiddleware)
    stack.portal_log.attach()
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as api:
        public = api.get("/api/v1/catalogue/sectors")
        private = api.get("/api/v1/dossier/dossiers", headers=stack.headers("citizen_a"))
        error = api.get("/api/v1/nothing")
        docs = api.get("/docs")
    for answer in (public, private, error):
        assert _headers_missing(answer) == {}, answer.request.url
        assert answer.headers["x-frame-options"] == "DENY"
    assert public.headers["cache-control"] == "public, max-age=60"  # the service's own choice stands
    assert private.headers["cache-control"] == "no-store"
    # Swagger UI runs its own scripts: the docs page's policy allows them, and only them.
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    assert "unsafe-inline'; img-src" in docs.headers["content-security-policy"]  # its styles only


def test_every_answer_of_the_gateway_carries_the_security_headers(stack: Stack) -> None:
    with stack.client() as api:
        answers = [api.get("/api/v1/catalogue/sectors"), api.get("/api/v1/dossier/dossiers", headers=stack.headers(
            "citizen_a")), api.get("/api/v1/nothing")]  # fmt: skip
    assert [_headers_missing(a) for a in answers] == [{}, {}, {}]
    assert answers[1].headers.get("cache-control") == "no-store"
