"""The authorization endpoint: validating a request, browser sessions, issuing codes, logout."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.kit import dpop, jose
from services.kit.errors import PortalError

from ..adapters.oauth import digest, new_secret
from ..domain.assurance import SignedIn
from ..domain.oauth import (
    AuthorizationCode,
    BrowserSession,
    Client,
    ClientKind,
    GrantType,
    OAuthError,
    grant,
    parse_scope,
    redirect_uri_allowed,
    unknown_scopes,
    valid_challenge,
)
from ..settings import IdentitySettings
from . import backchannel, mandates
from .accounts import account_is_active, grantable_scopes
from .clients import get_client
from .keys import verification_key
from .step_up import UNMET, AcrRequest, parse_acr_request
from .unit_of_work import IdentityUnitOfWork

PROMPTS = {"none", "login", "consent", "select_account"}
# ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses), at most 10^8 seconds.
MAX_AGE = re.compile(r"(?:[0-9]{1,8}|100000000)")
MAX_HINT = 512  # state, nonce and login_hint are carried through the sign-in form: bounded
FAPI2_CODE_SECONDS = 60
ACTING_FOR = re.compile(r"[0-9]{10}(?:-[0-9]{3})?")


class UnsafeRedirect(OAuthError):
    """The client or redirect URI cannot be trusted: answer on our own page, never redirect."""


class Unrecognised(OAuthError):
    """The request names a client or a token this provider does not know: a well-formed
    reference to nothing (state, not shape), answered on the provider's page as a 404."""


class PushedParameters(dict[str, str]):
    """An authorization request resolved from its ``request_uri`` (``pushed.with_pushed``): the
    only parameters ``parse_request`` takes a ``request_uri`` in (no HTTP input is one)."""


class UnknownClient(UnsafeRedirect, Unrecognised):
    """No enabled client has the request's client_id: the page says so (404), never redirects."""


# An ID token as a hint: a JWS in compact serialization (RFC 7515 §7.1), three base64url parts.
JWS_COMPACT = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
_JWS_COMPACT = re.compile(JWS_COMPACT)


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    ui_locales: str | None
    # A pushed request (RFC 9126): the request URI it came by; the form carries only that.
    request_uri: str | None = None
    # RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    dpop_jkt: str | None = None
    # The level of assurance asked for (acr_values, or claims with acr), and those parameters as sent.
    acr: AcrRequest = field(default_factory=AcrRequest)
    acr_values: str | None = None
    claims: str | None = None
    # The enterprise the person acts for (its tax code, ``docs/mandates.md``): needs an active mandate.
    acting_for: str | None = None

    def as_form(self) -> dict[str, str]:
        """The request, to carry through the sign-in form (re-validated when it comes back)."""
        if self.request_uri is not None:
            pushed = {
                "client_id": self.client.client_id,
                "request_uri": self.request_uri,
                "ui_locales": self.ui_locales,
            }
            return {k: v for k, v in pushed.items() if v}
        values = {
            "client_id": self.client.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.scopes),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256" if self.code_challenge else None,
            "max_age": str(self.max_age) if self.max_age is not None else None,
            "prompt": " ".join(sorted(self.prompt - {"login"})) or None,
            "ui_locales": self.ui_locales,
            "acr_values": self.acr_values,
            "claims": self.claims,
            "acting_for": self.acting_for,
        }
        return {k: v for k, v in values.items() if v}


async def parse_request(
    uow: IdentityUnitOfWork, params: Mapping[str, str], *, pushing: bool = False
) -> AuthorizationRequest:
    """Validate in the order OIDC asks: client and redirect URI first (errors there are shown,
    not redirected), then everything else (errors go back to the client's redirect URI).

    ``params`` may hold a ``request_uri`` only as :class:`PushedParameters` (a pushed request
    resolved by ``pushed.with_pushed``); ``pushing`` is the PAR endpoint checking one before it
    keeps it."""
    try:
        client = await get_client(uow, params.get("client_id", ""))
    except Exception:
        raise UnknownClient("invalid_request", "Unknown or disabled client.") from None
    if "request_uri" in params and not isinstance(params, PushedParameters):
        raise UnsafeRedirect("invalid_request", "A request_uri is resolved before the request is read.")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri_allowed(redirect_uri, client.redirect_uris):
        raise UnsafeRedirect("invalid_request", "The redirect_uri is not registered for this client.")
    assert redirect_uri is not None
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported.")
    if GrantType.AUTHORIZATION_CODE not in client.grant_types:
        raise OAuthError("unauthorized_client", "This client may not use the authorization code grant.")
    scopes = parse_scope(params.get("scope"))
    if "openid" not in scopes:
        raise OAuthError("invalid_scope", "The openid scope is required.")
    if unknown := unknown_scopes(scopes):
        raise OAuthError("invalid_scope", f"Unknown scopes: {' '.join(unknown)}.")
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if challenge is not None or method is not None:
        if not valid_challenge(challenge, method):
            raise OAuthError("invalid_request", "PKCE needs a 43-character S256 code_challenge (plain is refused).")
    elif client.kind is ClientKind.PUBLIC or client.fapi2:
        raise OAuthError("invalid_request", "This client must use PKCE (code_challenge with S256).")
    if client.requires_par and not pushing and "request_uri" not in params:
        raise OAuthError("invalid_request", "This client must push its authorization requests (PAR, RFC 9126).")
    dpop_jkt = params.get("dpop_jkt")
    if dpop_jkt is not None and not dpop.THUMBPRINT.fullmatch(dpop_jkt):
        raise OAuthError("invalid_request", "dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters).")
    prompt = frozenset(parse_scope(params.get("prompt")))
    if prompt - PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise OAuthError("invalid_request", "Invalid prompt value.")
    max_age = params.get("max_age")
    if max_age is not None and not MAX_AGE.fullmatch(max_age):
        raise OAuthError("invalid_request", "max_age must be a non-negative number of seconds.")
    for name in ("state", "nonce", "login_hint"):
        if len(params.get(name) or "") > MAX_HINT:
            raise OAuthError("invalid_request", f"{name} is longer than {MAX_HINT} characters.")
    acr = parse_acr_request(params.get("acr_values"), params.get("claims"))
    acting_for = params.get("acting_for")
    if acting_for is not None and not ACTING_FOR.fullmatch(acting_for):
        raise OAuthError("invalid_request", "acting_for must be an enterprise's tax code (10 digits, or 13 with -NNN).")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=params.get("state"),
        nonce=params.get("nonce"),
        code_challenge=challenge,
        prompt=prompt,
        max_age=int(max_age) if max_age is not None else None,
        login_hint=params.get("login_hint"),
        ui_locales=params.get("ui_locales"),
        request_uri=params.get("request_uri"),
        dpop_jkt=dpop_jkt,
        acr=acr,
        acr_values=params.get("acr_values"),
        claims=params.get("claims"),
        acting_for=acting_for,
    )


@dataclass(frozen=True)
class Session:
    account_id: str
    acr: str
    amr: tuple[str, ...]
    auth_time: datetime
    agencies: tuple[str, ...] = ()
    sid: str | None = None


async def start_session(uow: IdentityUnitOfWork, settings: IdentitySettings, signed_in: SignedIn, now: datetime) -> str:
    """A browser session after a sign-in; returns the cookie value (only its hash is stored)."""
    value = new_secret()
    await uow.sessions.add(
        BrowserSession(
            id_hash=digest(value), account_id=signed_in.account_id, acr=signed_in.acr.value, amr=signed_in.amr,
            auth_time=signed_in.auth_time, agencies=signed_in.agencies,
            expires_at=now + timedelta(hours=settings.session_hours), sid=new_secret(16),
        )
    )  # fmt: skip
    return value


async def session_sid(uow: IdentityUnitOfWork, cookie: str) -> str | None:
    """The ``sid`` of the browser session of ``cookie`` (ID tokens carry it; back-channel logout
    names it): a session built by hand from a sign-in passes it on to the codes it issues."""
    row = await uow.sessions.get(digest(cookie))
    return row.sid if row is not None else None


async def current_session(uow: IdentityUnitOfWork, cookie: str | None, now: datetime) -> Session | None:
    if not cookie:
        return None
    row = await uow.sessions.get(digest(cookie))
    if row is None or not row.valid(now):
        return None
    if not await account_is_active(uow, row.account_id):
        return None
    return Session(row.account_id, row.acr, tuple(row.amr), row.auth_time, tuple(row.agencies), row.sid)


def needs_sign_in(request: AuthorizationRequest, session: Session | None, now: datetime) -> bool:
    if session is None or "login" in request.prompt:
        return True
    if not request.acr.met_by(session.acr):  # step-up: sign in again at the level asked
        return True
    return request.max_age is not None and (now - session.auth_time).total_seconds() > request.max_age


async def issue_code(
    uow: IdentityUnitOfWork, settings: IdentitySettings, request: AuthorizationRequest, session: Session, now: datetime
) -> str:
    """A single-use code bound to the client, redirect URI, PKCE challenge, nonce and DPoP key.
    A pushed request yields one code: its request URI is used up here. Refused
    (``unmet_authentication_requirements``) for a sign-in below a level that must be reached:
    an essential acr, or in-person (``step_up``), whichever way the person signed in."""
    if request.acr.refuses(session.acr):
        raise OAuthError(UNMET, "The level of assurance asked was not reached.")
    if request.request_uri is not None and not await uow.pushed_requests.consume(digest(request.request_uri), now):
        raise OAuthError("invalid_request", "The request_uri was used or has expired.")
    # FAPI 2.0 §5.3.2.1: codes of the profile's clients live at most 60 seconds.
    lifetime = settings.authorization_code_seconds
    if request.client.fapi2:
        lifetime = min(lifetime, FAPI2_CODE_SECONDS)
    allowed = await grantable_scopes(uow, session.account_id)
    mandate_id = None
    if request.acting_for is not None:
        mandate = await mandates.acting_mandate(uow, request.acting_for, session.account_id)
        if mandate is None:
            raise OAuthError("access_denied", "You hold no active mandate to act for this enterprise.")
        mandate_id, allowed = mandate.id, allowed & mandate.api_scopes
    scopes = grant(request.scopes, allowed & request.client.allowed_scopes)
    code = new_secret()
    await uow.authorization_codes.add(
        AuthorizationCode(
            code_hash=digest(code), client_id=request.client.client_id, account_id=session.account_id,
            redirect_uri=request.redirect_uri, scope=" ".join(scopes), nonce=request.nonce,
            code_challenge=request.code_challenge, acr=session.acr, amr=session.amr, auth_time=session.auth_time,
            agencies=session.agencies, expires_at=now + timedelta(seconds=lifetime), dpop_jkt=request.dpop_jkt,
            sid=session.sid, mandate_id=mandate_id,
        )
    )  # fmt: skip
    return code


def _hinted_client(hint: str) -> str:
    """The client an ID token was issued to (its ``aud``; the first of several), unverified."""
    aud = jose.unverified_claims(hint).get("aud")
    first = aud[0] if isinstance(aud, list) and aud else aud
    if not isinstance(first, str):
        raise jose.TokenInvalid("token has no aud claim")
    return first


async def end_session(
    uow: IdentityUnitOfWork, settings: IdentitySettings, params: Mapping[str, str], cookie: str | None, now: datetime
) -> str | None:
    """RP-initiated logout: end the browser session; return where to send the browser (the
    client's registered ``post_logout_redirect_uri``, exactly matched) or None."""
    target = params.get("post_logout_redirect_uri")
    client_id = params.get("client_id")
    hint = params.get("id_token_hint")
    if hint is not None and not _JWS_COMPACT.fullmatch(hint):
        raise OAuthError("invalid_request", "The id_token_hint is not a JWT (three base64url parts).")
    if hint:
        try:
            header = jose.unverified_header(hint)
            key = await verification_key(uow, settings, header.get("kid"), now)
            if key is None:
                raise jose.TokenInvalid("unknown key")
            hinted = client_id or _hinted_client(hint)
            # An expired ID token is still a good hint (OIDC RP-Initiated Logout §2); its
            # issuer, audience and type are checked all the same.
            jose.decode(
                hint, key, issuer=settings.oidc_issuer, audience=hinted, typ=jose.ID_TOKEN_TYPE, verify_expiry=False
            )
        except jose.TokenInvalid:
            refusal = "The id_token_hint is not an ID token this provider issued for this client."
            raise Unrecognised("invalid_request", refusal) from None
        client_id = hinted
        if target is None:
            try:
                await get_client(uow, client_id)
            except PortalError:
                raise UnknownClient("invalid_request", "The id_token_hint names no registered client.") from None
    if target is not None:
        if client_id is None:
            raise OAuthError("invalid_request", "post_logout_redirect_uri needs id_token_hint or client_id.")
        try:
            client = await get_client(uow, client_id)
        except PortalError:
            raise UnknownClient("invalid_request", "Unknown or disabled client.") from None
        if target not in client.post_logout_redirect_uris:
            raise OAuthError("invalid_request", "post_logout_redirect_uri is not registered for this client.")
    if cookie:
        session = await uow.sessions.get(digest(cookie))
        await uow.sessions.revoke(digest(cookie), now)
        if session is not None and session.revoked_at is None:
            await backchannel.session_ended(uow, session.sid, now)
    return target
