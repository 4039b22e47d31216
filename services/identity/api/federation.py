"""Sign-in through the national e-ID (the browser's way out to it and back), and the API of an
account's e-ID link (its holder or an operator sees and removes it; every change audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.kit.auth import Principal, require_scopes
from services.kit.errors import Forbidden, PortalError
from services.kit.problems import problem_for

from ..adapters.eid import EidClient
from ..domain.federation import EidDeclined, LinkEvent
from ..domain.oauth import OAuthError
from ..service import authorize, federation
from ..settings import IdentitySettings
from .dependencies import IdentityUnitOfWorkDep
from .oidc import (
    AUTHORIZE_PARAMETERS,
    AUTHORIZE_RESPONSES,
    NO_STORE,
    PAGE_RESPONSES,
    SESSION_COOKIE,
    _error_page,
    _query,
    _redirect,
    _secure,
)
from .pages import language, render, texts
from .problems import PROBLEMS
from .schemas import EidLinkEventPublic, EidLinkPublic

root_router = APIRouter()
router = APIRouter()

BROWSER_COOKIE = "portal_eid"
COOKIE_PATH = "/oauth2/eid"
MAX_QUERY = 30  # parameters of a start or callback request; each at most MAX_VALUE characters
MAX_VALUE = 4096
HISTORY = 50
_HTML = {"text/html": {"schema": {"type": "string"}}}
# The e-ID's answer (OAuth 2.0 §4.1.2, RFC 9207): a code, or an error; with the state either way.
CALLBACK_PARAMETERS = [
    _query("state", {"type": "string", "minLength": 1, "maxLength": federation.MAX_CLAIM},
           "The state identity sent with the person to the e-ID.", required=True),
    _query("code", {"type": "string", "minLength": 1, "maxLength": 2048}, "The e-ID's authorization code."),
    _query("iss", {"type": "string", "maxLength": 2048}, "The e-ID's issuer (RFC 9207)."),
    _query("error", {"type": "string", "maxLength": 256}, "Why the e-ID ended the sign-in."),
    _query("error_description", {"type": "string", "maxLength": 1024}, "The e-ID's words for it."),
]  # fmt: skip


def _settings(request: Request) -> IdentitySettings:
    settings: IdentitySettings = request.app.state.settings
    return settings


def _now() -> datetime:
    return datetime.now(UTC)


async def _declined(uow: IdentityUnitOfWorkDep, exc: EidDeclined, settings: IdentitySettings) -> HTMLResponse:
    lang = language(exc.request.get("ui_locales"))
    try:
        req = await authorize.parse_request(uow, exc.request)
    except OAuthError:
        return _refusal_page(lang, exc)
    params = {"error": "access_denied", "error_description": "The sign-in with the national e-ID was not completed.",
              "state": req.state}  # fmt: skip
    page = _continue_page(lang, _redirect(req.redirect_uri, params, settings.oidc_issuer).headers["location"])
    page.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
    return page


def eid_client(request: Request) -> EidClient:
    """The process's client of the e-ID (its discovery and keys cached), made on first use."""
    client: EidClient | None = getattr(request.app.state, "eid", None)
    if client is None:
        s = _settings(request)
        client = EidClient(
            s.eid_issuer, timeout_seconds=s.eid_timeout_seconds, max_response_bytes=s.eid_max_response_bytes,
            discovery_seconds=s.eid_discovery_seconds, jwks_min_refresh_seconds=s.eid_jwks_min_refresh_seconds,
        )  # fmt: skip
        request.app.state.eid = client
    return client


async def close_eid_client(app: FastAPI) -> None:
    """At shutdown: the e-ID client's connections closed, if one was made."""
    client: EidClient | None = getattr(app.state, "eid", None)
    if client is not None:
        await client.aclose()


def _params(request: Request) -> dict[str, str] | None:
    query = request.query_params
    if len(query) > MAX_QUERY or any(len(v) > MAX_VALUE or len(query.getlist(k)) > 1 for k, v in query.items()):
        return None
    return dict(query)


def _refusal_page(lang: str, error: PortalError) -> HTMLResponse:
    """The page a refused or failed e-ID sign-in ends on: what happened, in the person's words."""
    problem = problem_for(error, PROBLEMS)
    message = texts(lang).get(problem.type) or error.detail or problem.title
    page = _error_page(lang, message, status=problem.status)
    page.headers.update(problem.headers)
    return page


def _continue_page(lang: str, target: str) -> HTMLResponse:
    """The way back to the client after the e-ID: a page that goes on by itself, not a redirect.
    The browser arrives here from a form posted on the e-ID's page, and browsers hold every
    redirect of that post to the e-ID page's CSP ``form-action``, which names the portal but not
    the client: a 303 to the client would be blocked. A new navigation is not."""
    page = HTMLResponse(render("continue.html", lang, target=target), headers=NO_STORE)
    page.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@root_router.get(
    "/oauth2/eid/start", response_model=None, response_class=HTMLResponse, operation_id="startEidSignIn",
    openapi_extra={"parameters": AUTHORIZE_PARAMETERS},
    responses={**AUTHORIZE_RESPONSES,
               404: {"description": "An HTML page: no enabled client has this client_id, or sign-in with the "
                                    "e-ID is not enabled", "content": _HTML},
               503: {"description": "An HTML page: the national e-ID is not available", "content": _HTML}},
)  # fmt: skip
async def start(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    """The sign-in page's "Sign in with VNeID": the portal's authorization request (the same
    parameters as /oauth2/authorize) is kept and the browser goes to the national e-ID."""
    settings, params = _settings(request), _params(request)
    lang = language((params or {}).get("ui_locales"))
    if params is None:
        return _error_page(lang, texts(lang)["eid-bad-request"])
    if not federation.enabled(settings):
        return _error_page(lang, texts(lang)["eid-off"], status=404)
    try:
        req = await authorize.parse_request(uow, params)
        started = await federation.begin(
            uow, settings, eid_client(request), req.as_form(), _now(), fresh_sign_in="login" in req.prompt
        )
    except OAuthError as exc:
        status = 404 if isinstance(exc, authorize.Unrecognised) else 400
        return _error_page(lang, exc.detail or problem_for(exc, PROBLEMS).title, status=status)
    except PortalError as exc:
        return _refusal_page(lang, exc)
    response = RedirectResponse(started.authorization_url, status_code=303, headers=NO_STORE)
    response.set_cookie(
        BROWSER_COOKIE, started.browser_secret, max_age=settings.eid_sign_in_seconds, httponly=True,
        samesite="lax", secure=_secure(settings), path=COOKIE_PATH,
    )  # fmt: skip
    return response


@root_router.get(
    "/oauth2/eid/callback", response_model=None, response_class=HTMLResponse, operation_id="completeEidSignIn",
    openapi_extra={"parameters": CALLBACK_PARAMETERS},
    responses={
        200: {"description": "An HTML page that sends the browser on to the client's redirect URI with the code "
                             "(a meta refresh and a link, #continue)", "content": _HTML},
        "4XX": {"description": "An HTML page saying why the sign-in cannot go on", "content": _HTML},
        404: {"description": "An HTML page: no e-ID sign-in started in this browser has this state (it is "
                             "over, used, or was started elsewhere)", "content": _HTML},
        409: {"description": "An HTML page: the e-ID account and the linked portal account name different "
                             "people or organisations", "content": _HTML},
        502: {"description": "An HTML page: the e-ID's answer does not verify", "content": _HTML},
        503: {"description": "An HTML page: the national e-ID is not available",
              "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}, "content": _HTML},
        429: PAGE_RESPONSES[429],
    },
)  # fmt: skip
async def callback(request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    """The national e-ID sends the browser back here (``code``, ``state``, ``iss``, or ``error``):
    the sign-in is completed, the portal session opened, and the original client gets its code
    (through a page that goes on by itself: ``_continue_page``).
    A refusal is a page; what it audited is committed all the same."""
    settings, now, params = _settings(request), _now(), _params(request)
    lang = "vi"
    if params is None:
        return _error_page(lang, texts(lang)["eid-bad-request"])
    client_ip = request.client.host if request.client else "unknown"
    try:
        done = await federation.complete(
            uow, settings, eid_client(request), params, request.cookies.get(BROWSER_COOKIE), client_ip=client_ip,
            now=now,
        )  # fmt: skip
        lang = language(done.request.get("ui_locales"))
        req = await authorize.parse_request(uow, done.request)
    except OAuthError as exc:  # the client went away (disabled) while the person was at the e-ID
        return _error_page(lang, exc.detail or problem_for(exc, PROBLEMS).title)
    except EidDeclined as exc:  # cancelled at the e-ID: the client hears it as OIDC says (access_denied)
        return await _declined(uow, exc, settings)
    except PortalError as exc:
        page = _refusal_page(lang, exc)
        page.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
        return page
    cookie = await authorize.start_session(uow, settings, done.signed_in, now)
    signed_in = done.signed_in
    session = authorize.Session(
        signed_in.account_id, signed_in.acr.value, signed_in.amr, signed_in.auth_time, signed_in.agencies,
        sid=await authorize.session_sid(uow, cookie),  # its ID tokens carry it: back-channel logout reaches them
    )  # fmt: skip
    try:
        outcome = {"code": await authorize.issue_code(uow, settings, req, session, now), "state": req.state}
    except OAuthError as exc:  # signed in, but below a level the client must have (or its pushed request used)
        outcome = {"error": exc.error, "error_description": exc.detail, "state": req.state}
    target = _redirect(req.redirect_uri, outcome, settings.oidc_issuer).headers["location"]
    response = _continue_page(lang, target)
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=_secure(settings), path="/",
        max_age=settings.session_hours * 3600,
    )  # fmt: skip
    response.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
    return response


# --- the API of an account's link -------------------------------------------------------------

AccountHolder = Annotated[Principal, require_scopes()]
Admin = Annotated[Principal, require_scopes("identity:admin")]
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


async def _person(principal: AccountHolder) -> Principal:
    if principal.client_id is not None and principal.subject == principal.client_id:
        raise Forbidden("An account's e-ID link is the business of the person holding it.")
    return principal


Person = Annotated[Principal, Depends(_person)]


def _public(linked_at: datetime | None, history: list[LinkEvent]) -> EidLinkPublic:
    lines = [EidLinkEventPublic(action=e.action.value, reason=e.reason, actor=e.actor, eid_subject=e.subject_masked,
                                at=e.at) for e in history]  # fmt: skip
    return EidLinkPublic(linked=linked_at is not None, linked_at=linked_at, history=lines)


async def _link(uow: IdentityUnitOfWorkDep, account_id: str) -> EidLinkPublic:
    link = await federation.link_of(uow, account_id)
    return _public(link.linked_at if link else None, await uow.eid_links.history(account_id, HISTORY))


@router.get("/me/eid-link", response_model=EidLinkPublic, operation_id="getMyEidLink")
async def my_link(uow: IdentityUnitOfWorkDep, who: Person) -> EidLinkPublic:
    """Whether the signed-in account is linked to a national e-ID account, and the link's audit."""
    return await _link(uow, who.subject)


@router.delete("/me/eid-link", status_code=204, operation_id="unlinkMyEid")
async def unlink_mine(uow: IdentityUnitOfWorkDep, who: Person) -> Response:
    """The holder removes the link (audited); the next e-ID sign-in with the same identifier
    links the account again."""
    await federation.unlink(uow, who.subject, actor="holder", now=_now())
    return Response(status_code=204)


@router.get("/accounts/{account_id}/eid-link", response_model=EidLinkPublic, operation_id="getEidLink")
async def account_link(account_id: PathId, uow: IdentityUnitOfWorkDep, _admin: Admin) -> EidLinkPublic:
    return await _link(uow, account_id)


@router.delete("/accounts/{account_id}/eid-link", status_code=204, operation_id="unlinkEid")
async def unlink_account(account_id: PathId, uow: IdentityUnitOfWorkDep, admin: Admin) -> Response:
    """An operator removes an account's e-ID link (audited with the operator's id)."""
    await federation.unlink(uow, account_id, actor=f"operator:{admin.subject}", now=_now())
    return Response(status_code=204)
