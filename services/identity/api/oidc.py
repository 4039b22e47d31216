"""The OpenID Connect endpoints, served at the issuer's root (the gateway forwards
``/.well-known/*`` and ``/oauth2/*`` here)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from contracts.assurance import IN_PERSON, acr_rank
from contracts.json import JsonSchema, OpenApi
from services.kit import dpop, jose
from services.kit.errors import PortalError
from services.kit.openapi import token_security
from services.kit.problems import problem_for

from ..domain.oauth import CODE_CHALLENGE_PATTERN, Client, GrantType, OAuthError
from ..service import accounts, authorize, clients, keys, pushed, sign_in, step_up, tokens
from ..service import dpop as dpop_proofs
from ..service.unit_of_work import IdentityUnitOfWork
from ..settings import IdentitySettings
from .dependencies import IdentityUnitOfWorkDep
from .pages import language, refusal, render, texts
from .problems import PROBLEMS
from .schemas import DiscoveryPublic, IntrospectionPublic, JwksPublic, PushedPublic, TokenPublic, UserinfoPublic

router = APIRouter()

SESSION_COOKIE = "portal_session"
CSRF_COOKIE = "portal_csrf"
MAX_FORM_FIELD = 4096
MAX_FORM_FIELDS = 50
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The browser endpoints answer HTML pages (or send the browser back to the client), never JSON.
# These are OpenAPI document fragments (schemaless JSON, as FastAPI's ``responses`` takes them).
_HTML = {"text/html": {"schema": {"type": "string"}}}
PAGE_RESPONSES: dict[int | str, OpenApi] = {
    200: {"description": "An HTML page", "content": _HTML},
    303: {"description": "The browser is sent back to the client's redirect URI, the outcome in the query",
          "headers": {"Location": {"schema": {"type": "string"}}}},
    "4XX": {"description": "An HTML page saying why the request cannot go on", "content": _HTML},
    # The gateway's rate limit answers these pages too: a page for a browser, and an RFC 9457
    # problem for a client whose Accept asks for JSON and not HTML.
    429: {"description": "Too many requests: wait for Retry-After seconds",
          "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
          "content": {**_HTML, "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
}  # fmt: skip
# The authorization endpoint names the outcome for a request whose client does not exist.
AUTHORIZE_RESPONSES: dict[int | str, OpenApi] = {
    **PAGE_RESPONSES,
    404: {"description": "An HTML page: no enabled client has this client_id (RFC 6749 §4.1.2.1: the browser is "
                         "not sent back, since there is no registered redirect URI to trust)", "content": _HTML},
    400: {"description": "An HTML page: the redirect_uri is not one the client registered, or the request "
                         "cannot go on and cannot safely be sent back to the client", "content": _HTML},
}  # fmt: skip


def _query(name: str, schema: JsonSchema, description: str, *, required: bool = False) -> OpenApi:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_PROMPT = "(login|consent|select_account)"
# The authorization request's parameters as the provider checks them (authorize.parse_request).
# They are read by hand, not by FastAPI, because an error after the client and redirect URI are
# known goes back to the client (OIDC Core §3.1.2.6), not into a 422 body; the document states
# the same rules so that generated clients check them before they send.
AUTHORIZE_PARAMETERS = [
    _query("response_type", {"type": "string", "enum": ["code"]}, "Only the code flow.", required=True),
    _query("client_id", {"type": "string", "minLength": 1}, "A registered, enabled client.", required=True),
    _query("redirect_uri", {"type": "string", "format": "uri", "minLength": 1},
           "Exactly one of the client's registered redirect URIs.", required=True),
    _query("scope", {"type": "string", "pattern": "(^| )openid( |$)"},
           "Space-separated scopes; openid is required.", required=True),
    _query("state", {"type": "string", "maxLength": authorize.MAX_HINT}, "Returned unchanged to the client."),
    _query("nonce", {"type": "string", "maxLength": authorize.MAX_HINT}, "Copied into the ID token."),
    _query("code_challenge", {"type": "string", "pattern": CODE_CHALLENGE_PATTERN},
           "PKCE (RFC 7636): BASE64URL(SHA-256(code_verifier)), 43 characters. Required for public clients."),
    _query("code_challenge_method", {"type": "string", "enum": ["S256"]},
           "S256 only (plain is refused); required with code_challenge."),
    _query("prompt", {"type": "string", "pattern": f"^(none|{_PROMPT}( {_PROMPT})*)$"},
           "none alone, or space-separated login, consent, select_account."),
    _query("max_age", {"type": "integer", "minimum": 0, "maximum": 10**8},
           "Seconds since the last sign-in after which the person signs in again."),
    _query("login_hint", {"type": "string", "maxLength": authorize.MAX_HINT}, "Pre-fills the login field."),
    _query("ui_locales", {"type": "string"}, "vi (the default) or en."),
    _query("acr_values", {"type": "string", "maxLength": step_up.MAX_ACR_VALUES},
           "Space-separated levels of assurance, voluntary (OIDC Core §3.1.2.1): a session below the lowest one "
           "listed signs in again at it (step-up, RFC 9470); tokens say the level reached."),
    _query("claims", {"type": "string", "maxLength": step_up.MAX_CLAIMS, "contentMediaType": "application/json"},
           "OIDC Core §5.5, read for acr only: an essential acr not reached is "
           "error=unmet_authentication_requirements, never a lower token."),
]  # fmt: skip


def _form_body(fields: dict[str, JsonSchema], required: list[str], description: str) -> OpenApi:
    """An ``application/x-www-form-urlencoded`` request body with ``fields`` (OpenAPI fragment).
    Each value is text of at most ``MAX_FORM_FIELD`` characters (``_form``); parameters the
    endpoint does not know are ignored, as RFC 6749 §3.1 and §3.2 ask, up to 50 fields in all."""
    properties = {name: {"type": "string", "maxLength": MAX_FORM_FIELD, **schema} for name, schema in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required, "maxProperties": 50,
              "additionalProperties": {"type": "string", "maxLength": MAX_FORM_FIELD}}  # fmt: skip
    return {"requestBody": {"required": bool(required), "description": description,
                            "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}  # fmt: skip


# Client authentication in the form (RFC 6749 §2.3.1 client_secret_post, RFC 7523 §2.2
# private_key_jwt, or a public client's client_id); client_secret_basic is the Authorization header.
CLIENT_AUTHENTICATION: dict[str, JsonSchema] = {
    "client_id": {"description": "The client (client_secret_post, private_key_jwt, or a public client)."},
    "client_secret": {"description": "client_secret_post: the client's secret."},
    "client_assertion_type": {"enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
                              "description": "private_key_jwt (RFC 7523 §2.2)."},
    "client_assertion": {"description": "private_key_jwt: a JWT signed with one of the client's keys."},
}  # fmt: skip
TOKEN_FORM = _form_body(
    {
        "grant_type": {"enum": [g.value for g in GrantType], "description": "RFC 6749 §4.1.3, §4.4.2, §6."},
        "code": {"description": "authorization_code: the code the authorization endpoint issued."},
        "redirect_uri": {"description": "authorization_code: the redirect URI of the authorization request."},
        "code_verifier": {"description": "authorization_code with PKCE (RFC 7636 §4.5)."},
        "refresh_token": {"description": "refresh_token: the refresh token."},
        "scope": {"description": "refresh_token and client_credentials: space-separated scopes."},
        **CLIENT_AUTHENTICATION,
    },
    ["grant_type"],
    "A token request (RFC 6749 §4.1.3, §4.4.2, §6), authenticated as the client registered.",
)
_TOKEN_TYPE_HINT = {"description": "access_token or refresh_token; a hint only (an unknown hint is ignored)."}
INTROSPECT_FORM = _form_body(
    {"token": {"description": "The token to describe."}, "token_type_hint": _TOKEN_TYPE_HINT,
     **CLIENT_AUTHENTICATION},
    ["token"],
    "An introspection request (RFC 7662 §2.1), by an authenticated client.",
)  # fmt: skip
REVOKE_FORM = _form_body(
    {"token": {"description": "The token to revoke."}, "token_type_hint": _TOKEN_TYPE_HINT, **CLIENT_AUTHENTICATION},
    ["token"],
    "A revocation request (RFC 7009 §2.1), authenticated as the client the token was issued to.",
)
# The sign-in form posts back the authorization request (as the page carried it) and the
# person's credentials, with the anti-forgery token its cookie holds.
SIGN_IN_FORM = _form_body(
    {
        **{p["name"]: {k: v for k, v in p["schema"].items() if k != "type"} | {"description": p["description"]}
           for p in AUTHORIZE_PARAMETERS if p["schema"]["type"] == "string"},
        "max_age": {"pattern": "^([0-9]{1,8}|100000000)$", "description": "As in the authorization request."},
        "login": {"description": "Personal id, tax code, username or mobile number."},
        "password": {"description": "The account's password."},
        "totp": {"description": "The authenticator app's code, when the account has one."},
        "csrf_token": {"description": "The anti-forgery token of the page (its cookie holds the same)."},
    },
    ["response_type", "client_id", "redirect_uri", "scope"],
    "The sign-in page's form: the authorization request and the person's credentials.",
)  # fmt: skip
# OpenID Connect RP-Initiated Logout 1.0 §2. Bounded so that every parameter at its longest
# still makes a URL the servers take (about 64 KiB, a character percent-encoded in up to 12 bytes).
LOGOUT_FIELDS: dict[str, JsonSchema] = {
    "id_token_hint": {"pattern": authorize.JWS_COMPACT, "maxLength": 4096,
                      "description": "An ID token this provider issued to the client (expired ones too)."},
    "client_id": {"maxLength": 255, "description": "The client, when no id_token_hint names it."},
    "post_logout_redirect_uri": {"maxLength": 1024,
                                 "description": "Exactly one of the client's registered logout redirect URIs; "
                                                "needs id_token_hint or client_id."},
    "state": {"maxLength": 1024, "description": "Returned unchanged with the redirect."},
    "ui_locales": {"maxLength": 64, "description": "vi (the default) or en."},
    "logout_hint": {"maxLength": 512, "description": "Accepted and ignored."},
}  # fmt: skip
LOGOUT_FORM = _form_body(LOGOUT_FIELDS, [], "The same parameters as the query, posted (RP-Initiated Logout §2).")
_LOGOUT_SCHEMA = LOGOUT_FORM["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
# A redirect after logout needs the client it is registered for (RP-Initiated Logout §3).
_LOGOUT_SCHEMA["dependentSchemas"] = {
    "post_logout_redirect_uri": {"anyOf": [{"required": ["id_token_hint"]}, {"required": ["client_id"]}]}
}
# The query states the same object: one parameter exploded into its fields (OpenAPI 3.1
# ``style: form``), so that the rule between two of them can be said.
# Parameters it does not know are ignored, a few and short ones, so that the URL stays servable.
MAX_QUERY_EXTRA, MAX_QUERY_NAME, MAX_QUERY_PARAMETERS = 256, 64, 8
LOGOUT_PARAMETERS = [{
    "name": "logout_request", "in": "query", "required": False, "style": "form", "explode": True,
    "schema": {**{k: v for k, v in _LOGOUT_SCHEMA.items() if k != "required"},
               "maxProperties": MAX_QUERY_PARAMETERS, "propertyNames": {"maxLength": MAX_QUERY_NAME},
               "additionalProperties": {"type": "string", "maxLength": MAX_QUERY_EXTRA}},
    "description": "RP-Initiated Logout §2, each field its own query parameter.",
}]  # fmt: skip
# Where the browser ends up when logout cannot go on.
LOGOUT_RESPONSES: dict[int | str, OpenApi] = {
    **PAGE_RESPONSES,
    404: {
        "description": "An HTML page: the id_token_hint is not an ID token this provider issued, or the "
        "client named does not exist (the browser is not redirected)",
        "content": _HTML,
    },
    400: {
        "description": "An HTML page: the request is malformed, or post_logout_redirect_uri is not registered "
        "for the client or comes without id_token_hint or client_id",
        "content": _HTML,
    },
}


def _now() -> datetime:
    return datetime.now(UTC)


def _settings(request: Request) -> IdentitySettings:
    settings: IdentitySettings = request.app.state.settings
    return settings


def _secure(settings: IdentitySettings) -> bool:
    return settings.oidc_issuer.startswith("https://")


async def _form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    pairs: list[tuple[str, Any]]
    if kind == "application/x-www-form-urlencoded":  # what OAuth prescribes: parsed here, a tenth of the cost
        try:
            text = (await request.body()).decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            refusal = f"The form is not UTF-8 or has over {MAX_FORM_FIELDS} fields."
            raise OAuthError("invalid_request", refusal) from None
    else:
        try:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        except HTTPException as exc:  # Starlette's refusal of the body (too many fields): the protocol's error
            raise OAuthError("invalid_request", str(exc.detail)) from None
        pairs = list(form.multi_items())
    out = {}
    for key, value in pairs:
        if not isinstance(value, str) or len(value) > MAX_FORM_FIELD:
            raise OAuthError("invalid_request", f"Form field {key} is too long or not text.")
        if key in out:
            raise OAuthError("invalid_request", f"Form field {key} is repeated.")
        out[key] = value
    return out


def _oauth_json(exc: OAuthError, status: int | None = None) -> JSONResponse:
    """RFC 6749 §5.2 error body (with the problem fields too), as application/json; ``status``
    overrides the problem's (a protected resource answers a bad DPoP proof 401, RFC 9449 §7.1)."""
    problem = problem_for(exc, PROBLEMS)
    status = status or problem.status
    body = {
        "error": exc.error,
        "error_description": exc.detail,
        "type": f"/problems/{problem.type}",
        "title": problem.title,
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **problem.headers})


def _documented(model: type[Any], description: str) -> dict[int | str, OpenApi]:
    """A 200 answer's schema for a route that writes its protocol's JSON itself."""
    return {200: {"model": model, "description": description}}


@router.get("/.well-known/openid-configuration", operation_id="getOpenidConfiguration", response_model=None,
            responses=_documented(DiscoveryPublic, "The provider's metadata"))  # fmt: skip
async def discovery(request: Request) -> JSONResponse:
    issuer = _settings(request).oidc_issuer
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "scopes_supported": [
            "openid",
            "profile",
            "phone",
            "email",
            "offline_access",
            "dossier:submit",
            "dossier:read",
            "dossier:process",
            "payment:pay",
            "payment:admin",
            "feedback:send",
            "feedback:process",
            "notification:read",
            "notification:templates",
            "sync:push",
            "catalogue:edit",
            "catalogue:admin",
            "identity:admin",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [g.value for g in GrantType],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": list(clients.AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(jose.CLIENT_ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": [m for m in clients.AUTH_METHODS if m != "none"],
        "revocation_endpoint_auth_methods_supported": list(clients.AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "at_hash",
            "sid",
            "name",
            "birthdate",
            "preferred_username",
            "phone_number",
            "phone_number_verified",
            "email",
            "email_verified",
            "account_kind",
            "agencies",
        ],
        "acr_values_supported": ["urn:portal:acr:password", "urn:portal:acr:mfa", "urn:portal:acr:in-person"],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["vi", "en"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        # OpenID Connect Back-Channel Logout 1.0 §2.1 (ID tokens carry ``sid``).
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # RFC 9126 §5 and RFC 9449 §5.1; PAR is required per client (its registration says).
        "pushed_authorization_request_endpoint": f"{issuer}/oauth2/par",
        "require_pushed_authorization_requests": False,
        "dpop_signing_alg_values_supported": list(dpop.ALGORITHMS),
    }
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth2/jwks", operation_id="getSigningKeys", response_model=None,
            responses=_documented(JwksPublic, "The published signing keys"))  # fmt: skip
async def jwks(request: Request, uow: IdentityUnitOfWorkDep) -> JSONResponse:
    document = await keys.jwks(uow, _settings(request), _now())
    # Short enough that a key published ahead of use reaches every cache before it signs.
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


def _redirect(uri: str, params: dict[str, str | None], issuer: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in {**params, "iss": issuer}.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=303, headers=NO_STORE)


def _error_page(lang: str, message: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(render("error.html", lang, message=message), status_code=status, headers=NO_STORE)


def _eid_start_href(settings: IdentitySettings, req: authorize.AuthorizationRequest) -> str | None:
    """The link "Sign in with VNeID" (api/federation.py): the same authorization request, its prompt
    whole (a client's prompt=login asks the e-ID for a fresh sign-in too); None when the e-ID is off."""
    if not settings.eid_issuer:
        return None
    params = req.as_form()
    if req.prompt:
        params["prompt"] = " ".join(sorted(req.prompt))
    return f"/oauth2/eid/start?{urlencode(params)}"


def step_up_notice(req: authorize.AuthorizationRequest, lang: str = "vi") -> str | None:
    """What the sign-in page says when the client asks for more than a password (step-up)."""
    required = req.acr.required
    if required is None or acr_rank(required) <= 0:
        return None
    return texts(lang)["step_up_in_person" if required == IN_PERSON else "step_up_mfa"]


def _sign_in_page(
    request: Request,
    req: authorize.AuthorizationRequest,
    *,
    error: str | None = None,
    status: int = 200,
    need_totp: bool = False,
    login: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = language(req.ui_locales)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    fields = {**req.as_form(), "prompt": "login"}
    other = texts(lang)["other_lang"]
    switch = f"/oauth2/authorize?{urlencode({**req.as_form(), 'ui_locales': other})}"
    html = render(
        "signin.html",
        lang,
        action="/oauth2/authorize",
        csrf=csrf,
        request_fields=fields,
        error=error,
        need_totp=need_totp or step_up_notice(req) is not None,
        notice=step_up_notice(req, lang),
        login=login or req.login_hint or "",
        client_name=req.client.name,
        switch_href=switch,
        eid_href=_eid_start_href(_settings(request), req),
    )
    response = HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})
    response.headers["X-Frame-Options"] = "DENY"
    # Browsers apply form-action to the redirect that follows the post: allow the client's origin.
    client_origin = "{0.scheme}://{0.netloc}".format(urlsplit(req.redirect_uri))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"form-action 'self' {client_origin}; frame-ancestors 'none'; base-uri 'none'"
    )
    settings = _settings(request)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=_secure(settings), path="/oauth2")
    return response


@router.get(
    "/oauth2/authorize", response_model=None, response_class=HTMLResponse, responses=AUTHORIZE_RESPONSES,
    openapi_extra={"parameters": AUTHORIZE_PARAMETERS}, operation_id="authorize",
)  # fmt: skip
async def authorize_get(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    params = dict(request.query_params)
    settings, now = _settings(request), _now()
    lang = language(params.get("ui_locales"))
    try:
        params = await pushed.with_pushed(uow, settings, params, now)
        req = await authorize.parse_request(uow, params)
    except authorize.Unrecognised as exc:
        return _error_page(lang, exc.detail or problem_for(exc, PROBLEMS).title, status=404)
    except authorize.UnsafeRedirect as exc:
        return _error_page(lang, exc.detail or problem_for(exc, PROBLEMS).title)
    except OAuthError as exc:
        return _redirect(
            params["redirect_uri"],
            {"error": exc.error, "error_description": exc.detail, "state": params.get("state")},
            settings.oidc_issuer,
        )
    session = await authorize.current_session(uow, request.cookies.get(SESSION_COOKIE), now)
    if not authorize.needs_sign_in(req, session, now):
        assert session is not None
        return await _code_redirect(uow, settings, req, session, now)
    if "none" in req.prompt:
        return _redirect(req.redirect_uri, {"error": "login_required", "state": req.state}, settings.oidc_issuer)
    return _sign_in_page(request, req)


async def _code_redirect(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    req: authorize.AuthorizationRequest,
    session: authorize.Session,
    now: datetime,
) -> RedirectResponse:
    """Back to the client with a code, or with the error that kept one from being issued (a
    pushed request used meanwhile in another tab)."""
    try:
        code = await authorize.issue_code(uow, settings, req, session, now)
    except OAuthError as exc:
        error = {"error": exc.error, "error_description": exc.detail, "state": req.state}
        return _redirect(req.redirect_uri, error, settings.oidc_issuer)
    return _redirect(req.redirect_uri, {"code": code, "state": req.state}, settings.oidc_issuer)


@router.post("/oauth2/authorize", response_model=None, response_class=HTMLResponse, responses=AUTHORIZE_RESPONSES,
             operation_id="signIn", openapi_extra=SIGN_IN_FORM)  # fmt: skip
async def authorize_post(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    """The sign-in form comes back here: check CSRF, sign in, start the session, issue the code.

    A refused sign-in answers the sign-in page again, and the request's unit of work commits
    what the refusal recorded (the failure count, the lockout, the audit line) as it commits a
    success: one owner of the commit, no commit here."""
    settings, now = _settings(request), _now()
    try:
        form = await _form(request)
    except OAuthError as exc:
        return _error_page("vi", exc.detail or problem_for(exc, PROBLEMS).title)
    login, password, totp = form.pop("login", ""), form.pop("password", ""), form.pop("totp", None) or None
    csrf_form, csrf_cookie = form.pop("csrf_token", ""), request.cookies.get(CSRF_COOKIE, "")
    if form.get("prompt") == "login":
        form.pop("prompt")
    lang = language(form.get("ui_locales"))
    try:
        form = await pushed.with_pushed(uow, settings, form, now)
        req = await authorize.parse_request(uow, form)
    except OAuthError as exc:
        status = 404 if isinstance(exc, authorize.Unrecognised) else 400
        return _error_page(lang, exc.detail or problem_for(exc, PROBLEMS).title, status=status)
    if not csrf_cookie or not hmac.compare_digest(csrf_form.encode(), csrf_cookie.encode()):
        return _sign_in_page(request, req, error=texts(lang)["expired"], status=400, login=login)
    client_ip = request.client.host if request.client else "unknown"
    try:
        signed_in = await sign_in.sign_in(
            uow, settings, login=login, password=password, totp_code=totp, client_ip=client_ip, now=now
        )
    except PortalError as exc:
        problem = problem_for(exc, PROBLEMS)
        need_totp = problem.type == "second-factor-required"
        fallback = exc.detail or problem.title
        message = (
            texts(lang)["need_totp"]
            if need_totp and not totp
            else refusal(lang, problem.type, problem.headers.get("Retry-After"), fallback)
        )
        return _sign_in_page(
            request,
            req,
            error=message,
            status=200 if need_totp else problem.status,
            need_totp=need_totp,
            login=login,
            headers=dict(problem.headers),
        )
    cookie = await authorize.start_session(uow, settings, signed_in, now)
    session = authorize.Session(
        signed_in.account_id, signed_in.acr.value, signed_in.amr, signed_in.auth_time, signed_in.agencies,
        sid=await authorize.session_sid(uow, cookie),
    )  # fmt: skip
    response = await _code_redirect(uow, settings, req, session, now)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
        path="/",
        max_age=settings.session_hours * 3600,
    )
    response.delete_cookie(CSRF_COOKIE, path="/oauth2")
    return response


# A client endpoint's answer: the protocol's JSON object (a token response, an introspection
# answer), or None for an empty 200.
ClientAnswer = Mapping[str, Any] | None
ClientAction = Callable[
    [IdentityUnitOfWork, IdentitySettings, Client, dict[str, str], datetime], Awaitable[ClientAnswer]
]


async def _as_client(
    request: Request, uow: IdentityUnitOfWork, action: ClientAction, *, status_code: int = 200
) -> Response:
    """Parse the form, authenticate the calling client, run ``action``. A refusal answers the
    OAuth error body and the request's unit of work commits what was recorded on the way (a
    client assertion's jti, a revoked refresh family, a replayed code's revocations)."""
    settings, now = _settings(request), _now()
    try:
        form = await _form(request)
        client = await clients.authenticate_client(uow, settings, form, request.headers.get("authorization"), now)
        answer = await action(uow, settings, client, form, now)
    except OAuthError as exc:
        return _oauth_json(exc)
    if answer is None:
        return Response(status_code=status_code, headers=NO_STORE)
    return JSONResponse(answer, status_code=status_code, headers=NO_STORE)


def _token_body(issued: tokens.Tokens) -> dict[str, str | int]:
    """RFC 6749 §5.1: the members that have a value, in the order clients have always seen."""
    body: dict[str, str | int] = {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    if issued.id_token is not None:
        body["id_token"] = issued.id_token
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return body


async def _grant(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    client: Client,
    form: dict[str, str],
    now: datetime,
    *,
    jkt: str | None = None,
) -> ClientAnswer:
    grant_type = form.get("grant_type")
    if grant_type == GrantType.AUTHORIZATION_CODE:
        return _token_body(await tokens.exchange_code(uow, settings, client, form, now, jkt=jkt))
    if grant_type == GrantType.REFRESH_TOKEN:
        return _token_body(await tokens.refresh(uow, settings, client, form, now, jkt=jkt))
    if grant_type == GrantType.CLIENT_CREDENTIALS:
        return _token_body(await tokens.client_credentials(uow, settings, client, form.get("scope"), now, jkt=jkt))
    raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")


async def _introspect(
    uow: IdentityUnitOfWork, settings: IdentitySettings, client: Client, form: dict[str, str], now: datetime
) -> ClientAnswer:
    if client.auth_method == "none":
        raise OAuthError("invalid_client", "Introspection needs an authenticated client.")
    return await tokens.introspect(uow, settings, client, form.get("token", ""), now)


async def _revoke(
    uow: IdentityUnitOfWork, settings: IdentitySettings, client: Client, form: dict[str, str], now: datetime
) -> ClientAnswer:
    await tokens.revoke(uow, settings, client, form.get("token", ""), now)
    return None


@router.post("/oauth2/token", response_model=None, operation_id="requestToken", openapi_extra=TOKEN_FORM,
             responses=_documented(TokenPublic, "The tokens issued"))  # fmt: skip
async def token(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    proofs = request.headers.getlist("dpop")

    async def grant(
        uow: IdentityUnitOfWork, settings: IdentitySettings, client: Client, form: dict[str, str], now: datetime
    ) -> ClientAnswer:
        # RFC 9449 §5: a proof binds the tokens to its key (cnf.jkt, token_type DPoP).
        jkt = await dpop_proofs.proof_key(uow, client, proofs, settings.oidc_issuer + "/oauth2/token", now)
        return await _grant(uow, settings, client, form, now, jkt=jkt)

    return await _as_client(request, uow, grant)


PAR_FORM = _form_body(
    {
        **{p["name"]: {k: v for k, v in p["schema"].items() if k != "type"} | {"description": p["description"]}
           for p in AUTHORIZE_PARAMETERS if p["schema"]["type"] == "string"},
        "max_age": {"pattern": "^([0-9]{1,8}|100000000)$", "description": "As in an authorization request."},
        "dpop_jkt": {"pattern": "^[A-Za-z0-9_-]{43}$",
                     "description": "RFC 9449 §10: the thumbprint of the DPoP key the code is bound to."},
        **CLIENT_AUTHENTICATION,
    },
    ["response_type", "redirect_uri", "scope"],
    "An authorization request (RFC 9126 §2.1), authenticated as the client at the token endpoint.",
)  # fmt: skip


@router.post(
    "/oauth2/par", response_model=None, operation_id="pushAuthorizationRequest", openapi_extra=PAR_FORM,
    status_code=201, responses={201: {"model": PushedPublic, "description": "The request URI to use"}},
)  # fmt: skip
async def push_authorization_request(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    """RFC 9126: keep an authorization request and answer the ``request_uri`` that stands for it."""
    proofs = request.headers.getlist("dpop")

    async def push(
        uow: IdentityUnitOfWork, settings: IdentitySettings, client: Client, form: dict[str, str], now: datetime
    ) -> ClientAnswer:
        done = await pushed.push(uow, settings, client, form, proofs, now)
        return {"request_uri": done.request_uri, "expires_in": done.expires_in}

    return await _as_client(request, uow, push, status_code=201)


@router.post("/oauth2/introspect", response_model=None, operation_id="introspectToken", openapi_extra=INTROSPECT_FORM,
             responses=_documented(IntrospectionPublic, "Whether the token is active, and its claims"))  # fmt: skip
async def introspect(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    return await _as_client(request, uow, _introspect)


@router.post(
    "/oauth2/revoke",
    response_model=None,
    operation_id="revokeToken",
    openapi_extra=REVOKE_FORM,
    responses={200: {"description": "Revoked, or nothing to revoke (RFC 7009 §2.2): an empty body"}},
)
async def revoke(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    return await _as_client(request, uow, _revoke)


async def _userinfo(request: Request, uow: IdentityUnitOfWorkDep) -> JSONResponse:
    settings, now = _settings(request), _now()
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") and request.method == "POST":
        bearer, scheme = (await _form(request)).get("access_token", ""), "bearer"
    try:
        claims = await tokens.verify_access_token(uow, settings, bearer.strip(), now)
        _check_binding(request, scheme, bearer.strip(), claims)
        scopes = frozenset(claims["scope"].split())
        if "openid" not in scopes or claims["sub"] == claims["client_id"]:
            raise OAuthError("insufficient_scope", "The token has no openid scope for a person.")
        try:
            info = await accounts.userinfo_claims(uow, claims["sub"], scopes)
        except PortalError:  # the account is gone or disabled since the token was issued
            raise OAuthError("invalid_token", "The account behind this token is not active.") from None
    except OAuthError as exc:
        response = _oauth_json(exc, 401 if exc.error == "invalid_dpop_proof" else None)
        if scheme == "dpop" or isinstance(exc, _DpopChallenge):
            algs = " ".join(dpop.ALGORITHMS)
            response.headers["WWW-Authenticate"] = f'DPoP error="{exc.error}", algs="{algs}"'
        else:
            response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
        return response
    return JSONResponse({**info, "sub": claims["sub"]}, headers=NO_STORE)


def _check_binding(request: Request, scheme: str, token: str, claims: Mapping[str, Any]) -> None:
    """RFC 9449 §7: a token bound to a key comes as DPoP with a proof for this request (the
    service's proof checker, with its replay memory); any other comes as Bearer."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if (jkt is None) != (scheme == "bearer"):
        raise _DpopChallenge("invalid_token", "A DPoP-bound token comes as DPoP with a proof; any other as Bearer.")
    if jkt is None:
        return
    proofs = request.headers.getlist("dpop")
    try:
        if len(proofs) != 1:
            raise dpop.DpopProofInvalid("A DPoP-bound token needs exactly one DPoP proof header.")
        checker: dpop.ProofChecker = request.app.state.verifier.proofs
        checker.check(proofs[0], method=request.method, path=request.url.path, access_token=token, jkt=str(jkt))
    except dpop.DpopProofInvalid as exc:
        raise _DpopChallenge("invalid_dpop_proof", exc.detail or "The DPoP proof is not valid.") from None


class _DpopChallenge(OAuthError):
    """Refused for the token's binding: the answer's challenge is DPoP's (RFC 9449 §7.1)."""


for _method in ("GET", "POST"):
    router.add_api_route(
        "/oauth2/userinfo",
        _userinfo,
        methods=[_method],
        response_model=None,
        responses=_documented(UserinfoPublic, "The claims of the scopes granted"),
        operation_id="getUserinfo" if _method == "GET" else "postUserinfo",
        # A person's access token with the openid scope, checked here rather than by a dependency.
        openapi_extra={"security": token_security(["openid"])},
    )


async def _logout(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    settings, now = _settings(request), _now()
    params: dict[str, str] = dict(request.query_params)
    lang = language(params.get("ui_locales"))
    try:
        if request.method == "POST":
            params.update(await _form(request))
        lang = language(params.get("ui_locales"))
        query = request.query_params
        if len(query) > MAX_QUERY_PARAMETERS or any(len(name) > MAX_QUERY_NAME for name in query):
            raise OAuthError("invalid_request", "Too many query parameters, or too long a name.")
        for name, value in params.items():
            extra = MAX_FORM_FIELD if request.method == "POST" else MAX_QUERY_EXTRA
            if len(value) > LOGOUT_FIELDS.get(name, {}).get("maxLength", extra):
                raise OAuthError("invalid_request", f"The parameter {name} is too long.")
        target = await authorize.end_session(uow, settings, params, request.cookies.get(SESSION_COOKIE), now)
    except (OAuthError, PortalError) as exc:  # refused before anything was written
        status = 404 if isinstance(exc, authorize.Unrecognised) else 400
        return _error_page(lang, exc.detail or problem_for(exc, PROBLEMS).title, status=status)
    if target:
        response: Response = _redirect(target, {"state": params.get("state")}, settings.oidc_issuer)
    else:
        message = "Bạn đã đăng xuất." if lang == "vi" else "You are signed out."
        response = HTMLResponse(
            render("error.html", lang, message=message).replace(texts(lang)["error_title"], message, 1)
        )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


for _method in ("GET", "POST"):
    router.add_api_route(
        "/oauth2/logout",
        _logout,
        methods=[_method],
        response_model=None,
        response_class=HTMLResponse,
        responses=LOGOUT_RESPONSES,
        operation_id="endSession" if _method == "GET" else "postEndSession",
        openapi_extra={"parameters": LOGOUT_PARAMETERS} if _method == "GET" else LOGOUT_FORM,
    )
