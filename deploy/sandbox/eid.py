"""The sandbox national e-ID: a development-only stand-in for VNeID (Decree 69/2024/ND-CP), an
OpenID Connect provider that a standard relying party uses unchanged, with a few test people.

- Discovery at ``/.well-known/openid-configuration``, its RSA signing key at ``/jwks`` (made at
  start, or kept in ``SANDBOX_EID_KEY_FILE`` across restarts).
- ``GET /authorize``: ``response_type=code`` only, PKCE ``S256`` required, ``redirect_uri``
  exactly one of the client's, ``state`` echoed (with ``iss``, RFC 9207), ``nonce`` into the ID
  token, ``acr_values`` honoured (a level-1 person cannot meet ``urn:vn:eid:level2``: the
  answer is ``unmet_authentication_requirements``), ``prompt=login|none`` and ``max_age``
  against the sandbox's own sign-in session. Its sign-in page picks a test person (or takes a
  typed identifier), the development password, and the OTP for level 2; the form carries a
  token of that request and a cookie of that browser, both checked.
- ``POST /token``: ``authorization_code`` with ``private_key_jwt`` (RFC 7523, OIDC Core §9: RS256
  or ES256 by a key of the client's registered JWKS, ``iss`` = ``sub`` = the client, ``aud`` the
  token endpoint or the issuer, ``exp``, a ``jti`` never seen before). Codes live 60 s, are
  used once (a second use revokes what the first gave) and are bound to the client, the
  redirect URI and the PKCE challenge. The ID token (RS256) carries ``iss sub aud exp iat
  auth_time nonce acr amr at_hash`` and the identity claims; ``/userinfo`` gives the claims.
- Switches: ``POST /api/behaviour`` ``{"slow_seconds", "down", "bad_signature",
  "wrong_identifier"}`` (``down``: 503 everywhere but ``/api``; ``wrong_identifier``: the next ID
  token says another number for the same ``sub``), ``DELETE /api/behaviour`` resets;
  ``GET /api/people`` lists the test people.

Everything is in memory and bounded; it logs no identifier. It refuses to start in production.
Claims and levels: docs/eid-sandbox.md. Command: ``python -m deploy.sandbox.eid``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jose import jwk, jwt
from jose.exceptions import JOSEError
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit import jose as kit_jose
from services.kit.problems import install_problem_handlers

ACR_LEVEL = {"urn:vn:eid:level1": 1, "urn:vn:eid:level2": 2}
LEVEL_ACR = {level: acr for acr, level in ACR_LEVEL.items()}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "ES256")
CODE_SECONDS = 60
ACCESS_TOKEN_SECONDS = 300
ID_TOKEN_SECONDS = 300
PENDING_SECONDS = 600
SESSION_SECONDS = 3600
MAX_FORM_BYTES = 16 * 1024
MAX_PARAM = 2048
MAX_ASSERTION = 8192
MAX_JWKS_BYTES = 64 * 1024
JWKS_REFETCH_SECONDS = 10.0
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
CLAIMS = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "name", "birthdate",
          "phone_number", "phone_number_verified", "eid_type", "eid_level", "personal_identification_number",
          "tax_code", "legal_representative_of"]  # fmt: skip
SESSION_COOKIE = "eid_session"
BROWSER_COOKIE = "eid_browser"


class ClientIn(BaseModel):
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    redirect_uris: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_PARAM)]], Field(min_length=1)]
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None

    @field_validator("jwks_uri")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("jwks_uri must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> ClientIn:
        if (self.jwks is None) == (self.jwks_uri is None):
            raise ValueError("a client has either jwks or jwks_uri")
        return self


# The portal's identity service in development: it authenticates with a key of its own
# published JWKS (nothing private is shared or kept in the repository); see docs/eid-sandbox.md.
PORTAL_CLIENT = {
    "client_id": "portal-identity",
    "redirect_uris": ["http://127.0.0.1:8000/oauth2/eid/callback"],
    "jwks_uri": "http://127.0.0.1:8000/oauth2/jwks",
}


class EidSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_EID_", extra="ignore")

    environment: str = Field(default="development", validation_alias="PORTAL_ENVIRONMENT")
    port: int = 8040
    # The issuer as relying parties reach it (tokens' ``iss`` and every endpoint in discovery).
    issuer: str = "http://127.0.0.1:8040"
    # A PEM file for the signing key: read if there, made and written if not. Empty: a new key each start.
    key_file: str = ""
    clients: list[ClientIn] = Field(default_factory=lambda: [ClientIn.model_validate(PORTAL_CLIENT)])
    # The development password of every test person, and the OTP level 2 asks for.
    password: str = "eid-sandbox"  # noqa: S105 - development only, documented
    otp: str = "123456"
    jwks_cache_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # Bounded memory: pending sign-ins, codes, tokens, sessions and seen assertion ids each.
    max_kept: int = Field(default=10_000, ge=10, le=1_000_000)


@dataclass(frozen=True)
class Person:
    key: str
    sub: str
    kind: str  # "citizen" | "organisation"
    level: int
    name: str
    identifier: str  # the 12-digit personal identification number, or the 10-digit tax code
    birthdate: str | None
    phone: str
    represents: tuple[tuple[str, str], ...] = ()  # (tax code, name) of enterprises

    def claims(self, identifier: str | None = None) -> dict[str, Any]:
        number = identifier or self.identifier
        claims: dict[str, Any] = {
            "sub": self.sub, "name": self.name, "phone_number": self.phone, "phone_number_verified": True,
            "eid_type": self.kind, "eid_level": self.level,
        }  # fmt: skip
        if self.kind == "citizen":
            claims["personal_identification_number"] = number
            claims["birthdate"] = self.birthdate
        else:
            claims["tax_code"] = number
        if self.represents:
            claims["legal_representative_of"] = [{"tax_code": t, "name": n} for t, n in self.represents]
        return claims


PEOPLE = (
    Person("an", "vneid-7d3c2a91f0b84e6a", "citizen", 1, "Nguyễn Văn An", "001090012345", "1990-01-15",
           "+84912000101"),
    Person("binh", "vneid-2b6e9c04d1a7f358", "citizen", 2, "Trần Thị Bình", "079185006789", "1985-05-20",
           "+84912000102"),
    Person("cuong", "vneid-c41f8e27a9d0635b", "citizen", 2, "Lê Hoàng Cường", "048080004321", "1980-11-02",
           "+84912000103", (("0312345678", "Công ty TNHH Thử Nghiệm Số"),)),
    Person("org", "vneid-org-5e90a1c7b3d2", "organisation", 2, "Công ty TNHH Thử Nghiệm Số", "0312345678", None,
           "+84912000103"),
)  # fmt: skip


@dataclass
class Pending:
    client_id: str
    redirect_uri: str
    state: str | None
    nonce: str | None
    challenge: str
    scope: str
    level: int
    form_token: str
    browser: str
    at: float = field(default_factory=time.time)


@dataclass
class Session:
    person: Person
    auth_time: int
    amr: tuple[str, ...]


@dataclass
class Code:
    pending: Pending
    session: Session
    expires: float
    used: bool = False
    access_token: str | None = None


@dataclass
class Grant:
    person: Person
    client_id: str
    expires: float


class BehaviourIn(BaseModel):
    slow_seconds: Annotated[float, Field(ge=0, le=120)] = 0
    down: bool = False
    bad_signature: bool = False
    wrong_identifier: bool = False


class Bounded(OrderedDict[str, Any]):
    """A dict that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)


def load_key(path: str) -> bytes:
    """The signing key's PEM: from ``path`` (written there first if missing), or a new one."""
    if path and Path(path).exists():
        return Path(path).read_bytes()
    pem, _ = kit_jose.generate_rsa(2048, "new")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).touch(mode=0o600)
        Path(path).write_bytes(pem)
    return pem


def public_jwk(pem: bytes) -> dict[str, Any]:
    public = jwk.construct(pem.decode(), algorithm="RS256").public_key().to_dict()
    kid = hashlib.sha256(f"{public['e']}.{public['n']}".encode()).hexdigest()[:16]
    return {"kty": "RSA", "n": public["n"], "e": public["e"], "kid": kid, "alg": "RS256", "use": "sig"}


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class Provider:
    def __init__(self, settings: EidSettings) -> None:
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self.pem = load_key(settings.key_file)
        self.jwk = public_jwk(self.pem)
        self.rogue_pem, _ = kit_jose.generate_rsa(2048, "rogue")  # for bad_signature: never published
        self.clients = {c.client_id: c for c in settings.clients}
        self.people = {p.key: p for p in PEOPLE}
        self.by_identifier = {p.identifier: p for p in PEOPLE}
        limit = settings.max_kept
        self.pending: Bounded = Bounded(limit)
        self.sessions: Bounded = Bounded(limit)
        self.codes: Bounded = Bounded(limit)
        self.tokens: Bounded = Bounded(limit)
        self.jtis: Bounded = Bounded(limit)
        self.jwks_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.behaviour = BehaviourIn()
        self.http: httpx.AsyncClient | None = None

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}{path}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("/authorize"),
            "token_endpoint": self.endpoint("/token"),
            "userinfo_endpoint": self.endpoint("/userinfo"),
            "jwks_uri": self.endpoint("/jwks"),
            "scopes_supported": ["openid", "profile", "phone"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": list(ACR_LEVEL),
            "prompt_values_supported": ["none", "login"],
            "claims_supported": CLAIMS,
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
        }

    # --- client authentication -------------------------------------------------------------

    async def client_keys(self, client: ClientIn, refresh: bool) -> list[dict[str, Any]]:
        if client.jwks is not None:
            keys = client.jwks.get("keys", [])
            return [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []
        uri = client.jwks_uri
        if uri is None or self.http is None:
            return []
        cached = self.jwks_cache.get(uri)
        if cached is not None:
            age = time.monotonic() - cached[0]
            # Fetched again when no key verified (the client rotated), but not more than every 10 s.
            if age < JWKS_REFETCH_SECONDS or (not refresh and age < self.settings.jwks_cache_seconds):
                return cached[1]
        keys = await self.fetch_jwks(uri)
        if keys is None:  # unreachable or not a JWKS: the keys known before, if any
            return cached[1] if cached else []
        self.jwks_cache[uri] = (time.monotonic(), keys)
        return keys

    async def fetch_jwks(self, uri: str) -> list[dict[str, Any]] | None:
        assert self.http is not None
        raw = b""
        try:
            async with self.http.stream("GET", uri) as answer:
                if answer.status_code != 200:
                    return None
                async for chunk in answer.aiter_bytes():
                    raw += chunk
                    if len(raw) > MAX_JWKS_BYTES:
                        return None
            document = json.loads(raw)
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            return None
        return [k for k in document["keys"] if isinstance(k, dict)]

    async def authenticate(self, form: dict[str, str]) -> ClientIn:
        """RFC 7523 §3 and OIDC Core §9 ``private_key_jwt``; anything else is ``invalid_client``."""
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuthError("invalid_client", "private_key_jwt client authentication is required", 401)
        assertion = form["client_assertion"]
        if len(assertion) > MAX_ASSERTION:
            raise OAuthError("invalid_client", "client assertion too large", 401)
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.get_unverified_claims(assertion)
        except JOSEError as exc:
            raise OAuthError("invalid_client", "malformed client assertion", 401) from exc
        client = self.clients.get(str(unverified.get("iss")))
        if client is None or ("client_id" in form and form["client_id"] != client.client_id):
            raise OAuthError("invalid_client", "unknown client", 401)
        alg = header.get("alg")
        if alg not in ASSERTION_ALGORITHMS:
            raise OAuthError("invalid_client", "client assertion algorithm not allowed", 401)
        claims = None
        for refresh in (False, True):
            for data in await self.client_keys(client, refresh):
                if header.get("kid") not in (None, data.get("kid")) or data.get("use", "sig") != "sig":
                    continue
                if data.get("alg", alg) != alg or data.get("kty") != ("RSA" if alg == "RS256" else "EC"):
                    continue
                try:
                    key = jwk.construct(data, algorithm=alg)
                    claims = jwt.decode(assertion, key, algorithms=[alg], options={"verify_aud": False,
                                        "verify_at_hash": False, "require_exp": True, "leeway": 30})  # fmt: skip
                    break
                except JOSEError:
                    continue
            if claims is not None or client.jwks is not None:
                break
        if claims is None:
            raise OAuthError("invalid_client", "client assertion not signed by a key of the client", 401)
        now = time.time()
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if not (claims.get("iss") == claims.get("sub") == client.client_id):
            raise OAuthError("invalid_client", "client assertion iss and sub must be the client", 401)
        if not isinstance(audiences, list) or not {self.endpoint("/token"), self.issuer} & set(audiences):
            raise OAuthError("invalid_client", "client assertion is for another audience", 401)
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp > now + 3660:
            raise OAuthError("invalid_client", "client assertion exp missing or too far ahead", 401)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 200:
            raise OAuthError("invalid_client", "client assertion has no jti", 401)
        seen = f"{client.client_id}\n{jti}"
        if (until := self.jtis.get(seen)) is not None and until > now:
            raise OAuthError("invalid_client", "client assertion jti already used", 401)
        self.jtis[seen] = exp + 30
        return client

    # --- tokens -------------------------------------------------------------------------------

    def id_token(self, code: Code, access_token: str) -> str:
        person, session = code.session.person, code.session
        wrong = None
        if self.behaviour.wrong_identifier:
            self.behaviour.wrong_identifier = False
            wrong = str((int(person.identifier) + 1) % 10 ** len(person.identifier)).zfill(len(person.identifier))
        now = int(time.time())
        claims = person.claims(wrong) | {
            "iss": self.issuer, "aud": code.pending.client_id, "exp": now + ID_TOKEN_SECONDS, "iat": now,
            "auth_time": session.auth_time, "acr": LEVEL_ACR[person.level], "amr": list(session.amr),
            "at_hash": kit_jose.at_hash(access_token),
        }  # fmt: skip
        if code.pending.nonce is not None:
            claims["nonce"] = code.pending.nonce
        pem = self.rogue_pem if self.behaviour.bad_signature else self.pem
        return kit_jose.sign_pem(claims, pem, self.jwk["kid"])

    async def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code is supported")
        client = await self.authenticate(form)
        code = self.codes.get(form.get("code", ""))
        if code is None or code.pending.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown code")
        if code.used:
            if code.access_token:  # RFC 6749 §4.1.2: a code used twice revokes what it gave
                self.tokens.pop(code.access_token, None)
            raise OAuthError("invalid_grant", "code already used")
        code.used = True
        if time.time() > code.expires:
            raise OAuthError("invalid_grant", "code expired")
        if form.get("redirect_uri") != code.pending.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request's")
        verifier = form.get("code_verifier", "")
        if not VERIFIER.fullmatch(verifier) or not same(s256(verifier), code.pending.challenge):
            raise OAuthError("invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = Grant(code.session.person, client.client_id, time.time() + ACCESS_TOKEN_SECONDS)
        code.access_token = access_token
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                "scope": code.pending.scope, "id_token": self.id_token(code, access_token)}  # fmt: skip


def oauth_error(exc: OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'  # RFC 6749 §5.2 asks for a challenge
    return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers=headers)


def error_page(message: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Định danh điện tử (sandbox)</title></head><body><h1>Không thể đăng nhập</h1>
<p>{html.escape(message)}</p></body></html>""", status_code=status)  # fmt: skip


def sign_in_page(rid: str, pending: Pending, message: str = "", status: int = 200) -> HTMLResponse:
    options = "\n".join(
        f'<label><input type="radio" name="person" value="{p.key}"{" checked" if i == 0 else ""}> '
        f"{html.escape(p.name)} — {p.identifier} (mức {p.level}{'' if p.kind == 'citizen' else ', tổ chức'})"
        "</label><br>"
        for i, p in enumerate(PEOPLE)
    )
    client = html.escape(pending.client_id)
    note = f'<p role="alert" style="color:#b00">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Đăng nhập bằng định danh điện tử (sandbox)</title></head><body>
<h1>Định danh điện tử quốc gia — môi trường thử nghiệm</h1>
<p>Ứng dụng <strong>{client}</strong> yêu cầu đăng nhập mức {pending.level}.</p>{note}
<form method="post" action="/authorize/sign-in">
<input type="hidden" name="request" value="{rid}"><input type="hidden" name="form_token" value="{pending.form_token}">
<fieldset><legend>Người thử nghiệm</legend>{options}
<label>hoặc số định danh / mã số thuế: <input name="identifier" inputmode="numeric" maxlength="12"
 autocomplete="off"></label></fieldset>
<p><label>Mật khẩu: <input type="password" name="password" required maxlength="200"
 autocomplete="current-password"></label></p>
<p><label>Mã OTP (tài khoản mức 2): <input name="otp" inputmode="numeric" maxlength="6"
 autocomplete="one-time-code"></label></p>
<p><button type="submit">Đăng nhập</button></p></form></body></html>"""
    response = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
    # Browsers apply form-action to the redirect that follows the post: the client's origin too.
    parts = urlsplit(pending.redirect_uri)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {parts.scheme}://{parts.netloc}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    return response


async def read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded body as single values; ``None`` when too large, repeated or not a form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            return None
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None


def create_app(settings: EidSettings | None = None) -> FastAPI:
    settings = settings or EidSettings()
    if settings.environment == "production":
        raise RuntimeError("the sandbox e-ID is for development only")
    provider = Provider(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        provider.http = httpx.AsyncClient(timeout=5, follow_redirects=False)
        try:
            yield
        finally:
            await provider.http.aclose()

    app = FastAPI(title="Sandbox national e-ID (development only)", lifespan=lifespan)
    app.state.provider = provider
    # The /api switches answer bad input with problem+json; the OAuth endpoints answer as RFC 6749 asks.
    install_problem_handlers(app)

    @app.middleware("http")
    async def down_switch(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if provider.behaviour.down and not request.url.path.startswith("/api/"):
            return JSONResponse({"error": "temporarily_unavailable"}, 503, headers={"Retry-After": "1"})
        return await call_next(request)

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return provider.discovery()

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [provider.jwk]}

    def back(pending: Pending, **params: str | None) -> RedirectResponse:
        query = {k: v for k, v in params.items() if v is not None}
        if pending.state is not None:
            query["state"] = pending.state
        query["iss"] = provider.issuer
        separator = "&" if "?" in pending.redirect_uri else "?"
        return RedirectResponse(f"{pending.redirect_uri}{separator}{urlencode(query)}", status_code=303)

    def issue(pending: Pending, session: Session) -> RedirectResponse:
        if session.person.level < pending.level:
            return back(pending, error="unmet_authentication_requirements",
                        error_description="the account's level is below the requested acr")  # fmt: skip
        code = secrets.token_urlsafe(32)
        provider.codes[code] = Code(pending, session, time.time() + CODE_SECONDS)
        return back(pending, code=code)

    @app.get("/authorize", response_model=None)
    async def authorize(request: Request) -> Response:
        params = request.query_params
        if any(len(v) > MAX_PARAM for v in params.values()) or len(params) > 30:
            return error_page("Yêu cầu quá lớn / request too large")
        if any(len(params.getlist(k)) > 1 for k in params):
            return error_page("Tham số lặp lại / repeated parameter")
        client = provider.clients.get(params.get("client_id", ""))
        if client is None:
            return error_page("Ứng dụng không đăng ký / unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return error_page("redirect_uri không đăng ký / redirect_uri not registered")
        scope = params.get("scope", "")
        requested = [ACR_LEVEL[v] for v in params.get("acr_values", "").split() if v in ACR_LEVEL]
        pending = Pending(client.client_id, redirect_uri, params.get("state"), params.get("nonce"),
                          params.get("code_challenge", ""), scope, min(requested, default=1),
                          secrets.token_urlsafe(24), secrets.token_urlsafe(24))  # fmt: skip
        prompts = set(params.get("prompt", "").split())
        if params.get("response_type") != "code":
            return back(pending, error="unsupported_response_type", error_description="only code is supported")
        if "request" in params:
            return back(pending, error="request_not_supported")
        if "request_uri" in params:
            return back(pending, error="request_uri_not_supported")
        if params.get("response_mode", "query") != "query":
            return back(pending, error="invalid_request", error_description="only response_mode=query")
        if "openid" not in scope.split():
            return back(pending, error="invalid_scope", error_description="scope must include openid")
        if params.get("code_challenge_method") != "S256" or not CHALLENGE.fullmatch(pending.challenge):
            return back(pending, error="invalid_request", error_description="PKCE with S256 is required")
        if not prompts <= {"none", "login", "consent", "select_account"} or ("none" in prompts and len(prompts) > 1):
            return back(pending, error="invalid_request", error_description="unsupported prompt")
        max_age: int | None = None
        if "max_age" in params:
            if not params["max_age"].isdigit():
                return back(pending, error="invalid_request", error_description="max_age must be seconds")
            max_age = int(params["max_age"])
        session = provider.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if session is not None and time.time() - session.auth_time > SESSION_SECONDS:
            session = None
        fresh = session is not None and (max_age is None or time.time() - session.auth_time <= max_age)
        if session is not None and fresh and "login" not in prompts and session.person.level >= pending.level:
            return issue(pending, session)
        if "none" in prompts:
            return back(pending, error="login_required", error_description="no sign-in session fits the request")
        rid = secrets.token_urlsafe(24)
        provider.pending[rid] = pending
        page = sign_in_page(rid, pending)
        page.set_cookie(BROWSER_COOKIE, pending.browser, httponly=True, samesite="lax", path="/authorize")
        return page

    @app.post("/authorize/sign-in", response_model=None)
    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return error_page("Biểu mẫu không hợp lệ / invalid form")
        rid = form.get("request", "")
        pending = provider.pending.get(rid)
        if pending is None or time.time() - pending.at > PENDING_SECONDS:
            return error_page("Yêu cầu đã hết hạn / sign-in request expired, start again")
        # CSRF: the form's token belongs to this request, and the cookie to the browser that asked.
        if not same(form.get("form_token"), pending.form_token) or not same(
            request.cookies.get(BROWSER_COOKIE), pending.browser
        ):
            return error_page("Phiên không hợp lệ / the form does not belong to this browser", 403)
        typed = form.get("identifier", "").strip()
        person = provider.by_identifier.get(typed) if typed else provider.people.get(form.get("person", ""))
        if person is None:
            return sign_in_page(rid, pending, "Không có người thử nghiệm này / unknown test person", 401)
        if not same(form.get("password"), settings.password):
            return sign_in_page(rid, pending, "Sai mật khẩu / wrong password", 401)
        amr: tuple[str, ...] = ("pwd",)
        if person.level >= 2:
            if not same(form.get("otp"), settings.otp):
                return sign_in_page(rid, pending, "Sai mã OTP / wrong OTP (level 2)", 401)
            amr = ("pwd", "otp", "mfa")
        del provider.pending[rid]
        session = Session(person, int(time.time()), amr)
        sid = secrets.token_urlsafe(32)
        provider.sessions[sid] = session
        response = issue(pending, session)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", max_age=SESSION_SECONDS)
        response.delete_cookie(BROWSER_COOKIE, path="/authorize")
        return response

    @app.post("/token", response_model=None)
    async def token(request: Request) -> Response:
        if provider.behaviour.slow_seconds:
            await asyncio.sleep(provider.behaviour.slow_seconds)
        form = await read_form(request)
        if form is None:
            return oauth_error(OAuthError("invalid_request", "a urlencoded form of single values is required"))
        try:
            body = await provider.exchange(form)
        except OAuthError as exc:
            return oauth_error(exc)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.api_route("/userinfo", methods=["GET", "POST"], response_model=None)
    async def userinfo(request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        grant = provider.tokens.get(value) if scheme.lower() == "bearer" else None
        if grant is None or time.time() > grant.expires:
            return JSONResponse({"error": "invalid_token"}, 401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
        return JSONResponse(grant.person.claims(), headers={"Cache-Control": "no-store"})

    @app.get("/api/behaviour")
    async def get_behaviour() -> BehaviourIn:
        return provider.behaviour

    @app.post("/api/behaviour")
    async def set_behaviour(body: BehaviourIn) -> BehaviourIn:
        provider.behaviour = body
        return body

    @app.delete("/api/behaviour")
    async def reset_behaviour() -> BehaviourIn:
        provider.behaviour = BehaviourIn()
        return provider.behaviour

    @app.get("/api/people")
    async def people() -> list[dict[str, Any]]:
        return [p.claims() | {"acr": LEVEL_ACR[p.level]} for p in PEOPLE]

    return app


def main() -> None:
    from services.kit.http import serve_factory

    serve_factory("deploy.sandbox.eid:create_app", host="127.0.0.1", port=EidSettings().port)


if __name__ == "__main__":
    main()
