"""The sandbox province portal: a development-only relying party of the national portal's single
sign-on, as a province's own portal is (client ``demo-province-portal``), to see sign-in and
OpenID Connect Back-Channel Logout 1.0 work end to end.

- ``GET /login``: "sign in with the national portal": authorization code + PKCE (S256), ``state``
  and ``nonce``; ``GET /callback`` checks ``state`` (and ``iss``, RFC 9207), redeems the code with
  ``client_secret_basic``, checks the ID token (RS256 by a key of the issuer's JWKS, ``iss``,
  ``aud``, ``exp``, ``nonce``) and starts a local session (its own cookie) that remembers the
  person's ``sub`` and the portal's session id ``sid``.
- ``GET /session``: the local session (200), or 401 when there is none.
- ``POST /backchannel-logout``: a logout token (§2.6 checks: signature by the issuer's key, typed
  ``logout+jwt`` when typed, ``iss``, ``aud``, ``iat`` recent, ``exp`` present and not past, the
  back-channel logout event, ``sub`` or ``sid`` (``sid`` required: the client registered
  ``backchannel_logout_session_required``), no ``nonce``, a ``jti`` never seen before); it ends
  every local session of that ``sid`` (or of that ``sub`` when only ``sub`` is named). 200 when
  accepted, 400 ``invalid_request`` otherwise, ``Cache-Control: no-store`` always.
- ``GET /logout``: ends the local session and sends the browser to the portal's
  ``end_session_endpoint`` (RP-initiated logout), which logs out every other relying party.
- ``GET /api/sessions``: the live local sessions (``sub``, ``sid``), for tests and a look.

Everything is in memory and bounded; it logs no token. It refuses to start in production.
Command: ``python -m deploy.sandbox.province_portal``.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jose import jwk, jwt
from jose.exceptions import JOSEError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.sandbox.eid import Bounded, read_form, s256, same

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, not a secret
SESSION_COOKIE = "province_session"
MAX_TOKEN = 8192
PENDING_SECONDS = 600


class ProvincePortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_PROVINCE_PORTAL_", extra="ignore")

    environment: str = Field(default="development", validation_alias="PORTAL_ENVIRONMENT")
    port: int = 8766
    # The national portal's issuer (the gateway), as its discovery document names it.
    issuer: str = "http://127.0.0.1:8000"
    # Where the sandbox itself is reached (its redirect and post-logout URIs).
    public_url: str = "http://127.0.0.1:8766"
    client_id: str = "demo-province-portal"
    client_secret: str = "demo-province-portal-development-secret"  # noqa: S105 - the documented development client
    scope: str = "openid profile"
    # A logout token's iat may be this far from the sandbox's clock (either side).
    clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    jwks_cache_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # Bounded memory: pending sign-ins, sessions and seen logout-token ids each.
    max_kept: int = Field(default=10_000, ge=10, le=1_000_000)


@dataclass(frozen=True)
class Pending:
    verifier: str
    nonce: str
    started: float


@dataclass(frozen=True)
class LocalSession:
    sub: str
    sid: str | None
    name: str | None
    id_token: str
    started: float


class Refused(Exception):
    """A logout token or a sign-in answer this relying party does not accept."""


class RelyingParty:
    def __init__(self, settings: ProvincePortalSettings) -> None:
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self.public_url = settings.public_url.rstrip("/")
        self.pending = Bounded(settings.max_kept)
        self.sessions = Bounded(settings.max_kept)
        self.seen_jtis = Bounded(settings.max_kept)
        self.http = httpx.AsyncClient(timeout=5, follow_redirects=False)
        self._discovery: dict[str, Any] | None = None
        self._jwks: dict[str, Any] = {}
        self._jwks_at = 0.0

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/callback"

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            answer = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            document: dict[str, Any] = answer.json()
            if document.get("issuer") != self.issuer:
                raise Refused("the discovery document names another issuer")
            self._discovery = document
        return self._discovery

    async def key(self, kid: str | None) -> Any:
        """The issuer's public key ``kid``: the cached JWKS, fetched again when it is stale or
        lacks the kid (at most once a second, so a stream of bad kids cannot hammer the issuer)."""
        now = time.monotonic()
        stale = now - self._jwks_at > self.settings.jwks_cache_seconds
        if kid not in self._jwks and (stale or now - self._jwks_at > 1.0):
            answer = await self.http.get((await self.discovery())["jwks_uri"])
            answer.raise_for_status()
            self._jwks = {k.get("kid"): k for k in answer.json().get("keys", []) if k.get("kty") == "RSA"}
            self._jwks_at = now
        if kid not in self._jwks:
            raise Refused("signed by a key the issuer does not publish")
        return jwk.construct(self._jwks[kid], algorithm="RS256")

    async def verified(self, token: str, **checks: Any) -> dict[str, Any]:
        if len(token) > MAX_TOKEN:
            raise Refused("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise Refused("the token is not signed with RS256")
            key = await self.key(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], issuer=self.issuer, audience=self.settings.client_id, **checks
            )
        except JOSEError as exc:
            raise Refused(f"the token does not verify: {exc}") from None
        return claims

    # --- sign-in -------------------------------------------------------------------------

    async def login_url(self) -> str:
        state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
        self.pending[state] = Pending(verifier, nonce, time.monotonic())
        params = {"response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.redirect_uri,
                  "scope": self.settings.scope, "state": state, "nonce": nonce, "code_challenge": s256(verifier),
                  "code_challenge_method": "S256"}  # fmt: skip
        return f"{(await self.discovery())['authorization_endpoint']}?{urlencode(params)}"

    async def complete(self, params: dict[str, str]) -> LocalSession:
        pending = self.pending.pop(params.get("state", ""), None)
        if pending is None or time.monotonic() - pending.started > PENDING_SECONDS:
            raise Refused("unknown or expired state")
        if "iss" in params and params["iss"] != self.issuer:
            raise Refused("the answer names another issuer")
        if "code" not in params:
            raise Refused(f"the portal refused: {params.get('error', 'no code')}")
        answer = await self.http.post(
            (await self.discovery())["token_endpoint"],
            data={"grant_type": "authorization_code", "code": params["code"], "redirect_uri": self.redirect_uri,
                  "code_verifier": pending.verifier},
            auth=(self.settings.client_id, self.settings.client_secret),
        )  # fmt: skip
        if answer.status_code != 200:
            raise Refused(f"the token endpoint answered {answer.status_code}")
        tokens = answer.json()
        claims = await self.verified(tokens["id_token"], access_token=tokens.get("access_token"))
        if not same(claims.get("nonce"), pending.nonce):
            raise Refused("the ID token's nonce is not this sign-in's")
        sid = claims.get("sid")
        return LocalSession(str(claims["sub"]), sid if isinstance(sid, str) else None, claims.get("name"),
                            tokens["id_token"], time.time())  # fmt: skip

    # --- back-channel logout (§2.6) --------------------------------------------------------

    async def logout_claims(self, token: str) -> dict[str, Any]:
        try:
            typ = jwt.get_unverified_header(token).get("typ")
        except JOSEError:
            raise Refused("the logout token is not a JWT") from None
        if typ is not None and str(typ).lower().removeprefix("application/") != LOGOUT_TOKEN_TYPE:
            raise Refused("the token is not typed logout+jwt")
        options = {"require_iat": True, "require_exp": True, "require_jti": True, "verify_at_hash": False}
        claims = await self.verified(token, options=options)
        if abs(time.time() - int(claims["iat"])) > self.settings.clock_skew_seconds:
            raise Refused("the logout token's iat is too far from now")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise Refused("the logout token carries no back-channel logout event")
        if "nonce" in claims:
            raise Refused("a logout token never carries a nonce")
        if not isinstance(claims.get("sid"), str):
            raise Refused("this relying party needs the sid claim")
        if "sub" in claims and not isinstance(claims["sub"], str):
            raise Refused("the sub claim is not a string")
        jti = str(claims["jti"])
        if jti in self.seen_jtis:
            raise Refused("this logout token was used already")
        self.seen_jtis[jti] = time.time()
        return claims

    def end_sessions(self, sub: str | None, sid: str | None) -> int:
        """End the local sessions of ``sid`` (of ``sub`` too, when named); of ``sub`` alone otherwise."""
        ended = [
            key
            for key, session in self.sessions.items()
            if (sid is None or session.sid == sid) and (sub is None or session.sub == sub)
        ]
        for key in ended:
            del self.sessions[key]
        return len(ended)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>Cổng dịch vụ công tỉnh (sandbox)</h1>{body}</body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _bad_logout(message: str) -> JSONResponse:
    body = {"error": "invalid_request", "error_description": message}
    return JSONResponse(body, status_code=400, headers={"Cache-Control": "no-store"})


def create_app(settings: ProvincePortalSettings | None = None) -> FastAPI:
    settings = settings or ProvincePortalSettings()
    if settings.environment == "production":
        raise RuntimeError("the sandbox province portal is for development only")
    rp = RelyingParty(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await rp.http.aclose()

    app = FastAPI(title="Sandbox province portal (development only)", lifespan=lifespan)
    app.state.rp = rp

    def current(request: Request) -> LocalSession | None:
        session: LocalSession | None = rp.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        return session

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        if (session := current(request)) is None:
            return _page("Đăng nhập", '<p><a href="/login">Đăng nhập bằng Cổng Dịch vụ công quốc gia</a></p>')
        return _page("Trang chủ", f'<p>Xin chào {html.escape(session.name or session.sub)}. '
                                  '<a href="/session">Phiên</a> · <a href="/logout">Đăng xuất</a></p>')  # fmt: skip

    @app.get("/login")
    async def login() -> Response:
        try:
            return RedirectResponse(await rp.login_url(), status_code=303)
        except (httpx.HTTPError, Refused) as exc:
            return _page("Lỗi", f"<p>Cổng quốc gia không trả lời: {html.escape(str(exc))}</p>", 502)

    @app.get("/callback")
    async def callback(request: Request) -> Response:
        try:
            session = await rp.complete(dict(request.query_params))
        except Refused as exc:
            return _page("Lỗi", f"<p>Không đăng nhập được: {html.escape(str(exc))}</p>", 400)
        except httpx.HTTPError:
            return _page("Lỗi", "<p>Cổng quốc gia không trả lời.</p>", 502)
        key = secrets.token_urlsafe(32)
        rp.sessions[key] = session
        response = RedirectResponse("/session", status_code=303)
        response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="lax", path="/")
        return response

    @app.get("/session", response_class=HTMLResponse)
    async def session_page(request: Request) -> HTMLResponse:
        if (session := current(request)) is None:
            return _page("Chưa đăng nhập", '<p>Không có phiên. <a href="/login">Đăng nhập</a></p>', 401)
        return _page("Phiên", f"<p>Đang đăng nhập: <strong>{html.escape(session.name or '')}</strong> "
                              f"(sub {html.escape(session.sub)}).</p>"
                              '<p><a href="/logout">Đăng xuất</a></p>')  # fmt: skip

    @app.get("/logout")
    async def logout(request: Request) -> Response:
        session = rp.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        target = f"{rp.public_url}/"
        if session is not None:
            try:
                endpoint = (await rp.discovery())["end_session_endpoint"]
                params = {"id_token_hint": session.id_token, "post_logout_redirect_uri": target}
                target = f"{endpoint}?{urlencode(params)}"
            except (httpx.HTTPError, Refused):
                pass
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.post("/backchannel-logout")
    async def backchannel_logout(request: Request) -> Response:
        form = await read_form(request)
        token = (form or {}).get("logout_token")
        if not token:
            return _bad_logout("a form with one logout_token is required")
        try:
            claims = await rp.logout_claims(token)
        except Refused as exc:
            return _bad_logout(str(exc))
        except httpx.HTTPError:  # the issuer's keys cannot be fetched: the portal tries again later
            return JSONResponse({"error": "temporarily_unavailable"}, 503, headers={"Cache-Control": "no-store"})
        rp.end_sessions(claims.get("sub"), claims.get("sid"))
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    @app.get("/api/sessions")
    async def sessions() -> list[dict[str, str | None]]:
        return [{"sub": s.sub, "sid": s.sid} for s in rp.sessions.values()]

    return app


def main() -> None:
    from services.kit.http import serve_factory

    serve_factory("deploy.sandbox.province_portal:create_app", host="127.0.0.1", port=ProvincePortalSettings().port)


if __name__ == "__main__":
    main()
