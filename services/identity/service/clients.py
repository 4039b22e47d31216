"""The client registry: web and mobile apps, provincial portals, ministry systems."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from contracts.events.identity_oidc import ClientCreated, ClientDisabled
from services.kit import jose
from services.kit.errors import Conflict, NotFound

from ..adapters.oauth import digest, new_secret
from ..domain.contacts import CONTACTS_SCOPE
from ..domain.logout import backchannel_uri_problem
from ..domain.oauth import Client, ClientKind, GrantType, JsonWebKeySet, OAuthError
from ..settings import IdentitySettings
from .unit_of_work import IdentityUnitOfWork

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_ROTATION_GRACE = timedelta(days=7)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def create_client(
    uow: IdentityUnitOfWork,
    *,
    client_id: str,
    name: str,
    kind: ClientKind,
    grant_types: list[str],
    redirect_uris: Sequence[str] = (),
    post_logout_redirect_uris: Sequence[str] = (),
    allowed_scopes: Sequence[str] = (),
    agencies: Sequence[str] = (),
    auth_method: str | None = None,
    secret: str | None = None,
    jwks: JsonWebKeySet | None = None,
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    require_pushed_authorization_requests: bool = False,
    dpop_bound_access_tokens: bool = False,
    fapi2: bool = False,
) -> tuple[Client, str | None]:
    """Register a client; returns it and, for a confidential client, its secret (shown once).
    ``fapi2`` puts it under the FAPI 2.0 Security Profile (docs/fapi.md): a confidential client
    authenticating with ``private_key_jwt``, PAR and DPoP required."""
    method = auth_method or ("none" if kind is ClientKind.PUBLIC else "client_secret_basic")
    if fapi2 and (kind is not ClientKind.CONFIDENTIAL or (auth_method or "private_key_jwt") != "private_key_jwt"):
        raise OAuthError("invalid_client_metadata", "FAPI 2.0 clients are confidential and use private_key_jwt.")
    if fapi2:
        method = "private_key_jwt"
        if any(not uri.startswith("https://") for uri in redirect_uris):
            raise OAuthError("invalid_client_metadata", "FAPI 2.0 clients register https redirect URIs only.")
    if method not in AUTH_METHODS:
        raise OAuthError("invalid_client_metadata", f"Unknown authentication method {method}.")
    if (kind is ClientKind.PUBLIC) != (method == "none"):
        raise OAuthError("invalid_client_metadata", "Public clients, and only they, authenticate with 'none'.")
    if method == "private_key_jwt" and not (jwks and jwks.get("keys")):
        raise OAuthError("invalid_client_metadata", "private_key_jwt needs the client's public keys (jwks).")
    unknown = set(grant_types) - {g.value for g in GrantType}
    if unknown or (kind is ClientKind.PUBLIC and GrantType.CLIENT_CREDENTIALS in grant_types):
        raise OAuthError("invalid_client_metadata", "Grant types not allowed for this client.")
    if GrantType.AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise OAuthError("invalid_client_metadata", "The authorization code grant needs redirect URIs.")
    _check_backchannel(backchannel_logout_uri, backchannel_logout_session_required, grant_types)
    if await uow.clients.get(client_id, include_disabled=True):
        raise Conflict(f"Client {client_id} already exists.")
    secret = (secret or new_secret()) if method.startswith("client_secret") else None
    await uow.clients.add(
        Client(
            client_id=client_id, name=name, kind=kind, auth_method=method, redirect_uris=tuple(redirect_uris),
            post_logout_redirect_uris=tuple(post_logout_redirect_uris), grant_types=tuple(grant_types),
            allowed_scopes=frozenset(allowed_scopes), agencies=tuple(agencies),
            secret_hash=digest(secret) if secret else None, jwks=jwks, backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required,
            require_pushed_authorization_requests=require_pushed_authorization_requests or fapi2,
            dpop_bound_access_tokens=dpop_bound_access_tokens or fapi2, fapi2=fapi2,
        )
    )  # fmt: skip
    client = await get_client(uow, client_id)
    event = ClientCreated(client_id=client_id, kind=kind.value, agencies=list(agencies), created_at=datetime.now(UTC))
    await uow.emit(event, key=client_id)
    return client, secret


def _check_backchannel(uri: str | None, session_required: bool, grant_types: list[str]) -> None:
    """Back-Channel Logout §2.2: a logout URI for a client that signs people in."""
    if uri is None:
        if session_required:
            raise OAuthError("invalid_client_metadata", "backchannel_logout_session_required needs a logout URI.")
        return
    if problem := backchannel_uri_problem(uri):
        raise OAuthError("invalid_client_metadata", problem)
    if GrantType.AUTHORIZATION_CODE not in grant_types:
        raise OAuthError("invalid_client_metadata", "Back-channel logout is for clients that sign people in.")


async def get_client(uow: IdentityUnitOfWork, client_id: str, *, include_disabled: bool = False) -> Client:
    client = await uow.clients.get(client_id, include_disabled=include_disabled)
    if client is None:
        raise NotFound(f"Client {client_id} does not exist or is disabled.")
    return client


async def list_clients(uow: IdentityUnitOfWork) -> list[Client]:
    return await uow.clients.all()


async def rotate_secret(uow: IdentityUnitOfWork, client_id: str, now: datetime) -> str:
    """A new secret; the previous one keeps working for a week so the client can roll over."""
    client = await uow.clients.get(client_id, include_disabled=True, for_update=True)
    if client is None or client.secret_hash is None:
        raise NotFound(f"Client {client_id} has no secret to rotate.")
    secret = new_secret()
    await uow.clients.rotate_secret(client_id, digest(secret), now + SECRET_ROTATION_GRACE)
    return secret


async def disable_client(uow: IdentityUnitOfWork, client_id: str, now: datetime) -> None:
    if not await uow.clients.disable(client_id, now):
        raise NotFound(f"Client {client_id} does not exist or is already disabled.")
    await uow.emit(ClientDisabled(client_id=client_id, disabled_at=now), key=client_id)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_client", "Malformed Basic credentials.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic credentials.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def authenticate_client(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    form: Mapping[str, str],
    authorization: str | None,
    now: datetime,
) -> Client:
    """The calling client, authenticated by the method it registered; 401 ``invalid_client`` otherwise."""
    basic = _basic_credentials(authorization)
    assertion = form.get("client_assertion")
    if basic:
        client_id, secret, method = basic[0], basic[1], "client_secret_basic"
    elif assertion:
        client_id, secret, method = _assertion_subject(assertion), None, "private_key_jwt"
    elif "client_secret" in form:
        client_id, secret, method = form.get("client_id", ""), form["client_secret"], "client_secret_post"
    else:
        client_id, secret, method = form.get("client_id", ""), None, "none"
    # The client as this process read it lately: a refused secret is checked again against the
    # table (it may have been rotated a moment ago, by another process).
    client = await uow.clients.recent(client_id)
    refused = OAuthError("invalid_client", "Client authentication failed.")
    if client is None or client.auth_method != method:
        raise refused
    if method in ("client_secret_basic", "client_secret_post"):
        hashed = digest(secret or "")
        if not client.secret_matches(hashed, now):
            uow.clients.forget(client_id)
            client = await uow.clients.recent(client_id)
            if client is None or client.auth_method != method or not client.secret_matches(hashed, now):
                raise refused
    elif method == "private_key_jwt":
        await _verify_assertion(uow, settings, client, assertion or "", form, now)
    return client


def _assertion_subject(assertion: str) -> str:
    try:
        subject = jose.unverified_claims(assertion).get("sub", "")
    except jose.TokenInvalid:
        raise OAuthError("invalid_client", "Malformed client assertion.") from None
    return subject if isinstance(subject, str) else ""


async def _verify_assertion(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    client: Client,
    assertion: str,
    form: Mapping[str, str],
    now: datetime,
) -> None:
    """RFC 7523 §3: signed (RS256, or ES256 with an EC key) by one of the client's keys, iss = sub = client_id, an
    ``aud`` naming our token endpoint or issuer, an ``exp`` not past (with leeway), and a
    ``jti`` never seen before. Anything else, a malformed header included, is ``invalid_client``."""
    refused = OAuthError("invalid_client", "Client assertion refused.")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise refused
    keys = client.assertion_keys()
    try:
        header = jose.unverified_header(assertion, jose.CLIENT_ASSERTION_ALGORITHMS)
        if header.get("kid") not in keys:
            raise refused
        key, algorithm = jose.client_key_from_jwk(keys[header["kid"]])
        claims = jose.decode_assertion(
            assertion,
            key,
            client_id=client.client_id,
            # RFC 9126 §2: the PAR endpoint's URL names us too.
            audiences=(
                settings.oidc_issuer,
                settings.oidc_issuer + "/oauth2/token",
                settings.oidc_issuer + "/oauth2/par",
            ),
            leeway=settings.private_key_jwt_leeway_seconds,
            algorithm=algorithm,
        )
    except jose.TokenInvalid:
        raise refused from None
    if claims.get("sub") != client.client_id or not claims.get("jti"):
        raise refused
    # FAPI 2.0 §5.3.2.1: the issuer identifier, as a string, is the only audience taken (an
    # assertion made for another endpoint cannot be replayed here).
    if client.fapi2 and claims.get("aud") != settings.oidc_issuer:
        raise refused
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo) + timedelta(
        seconds=settings.private_key_jwt_leeway_seconds
    )
    if not await uow.clients.remember_assertion(client.client_id, str(claims["jti"]), expires):
        raise OAuthError("invalid_client", "Client assertion already used.")


DEMO_WEB_REDIRECT = "http://127.0.0.1:8765/callback"
DEMO_PROVINCE_SECRET = "demo-province-development-secret"  # noqa: S105 - documented development fixture
DEMO_PROVINCE_PORTAL_REDIRECT = "http://127.0.0.1:8766/callback"
DEMO_PROVINCE_PORTAL_SECRET = "demo-province-portal-development-secret"  # noqa: S105 - documented development fixture
DEMO_PROVINCE_PORTAL_BACKCHANNEL = "http://127.0.0.1:8766/backchannel-logout"
DEMO_OPERATOR_REDIRECT = "http://127.0.0.1:8767/callback"
NOTIFICATION_CLIENT = "notification-service"
# What officials and administrators do: process dossiers, edit and administer the catalogue,
# administer payments, sync mappings and identity. Each is granted only to an account whose kind
# may hold it (officials and administrators, who sign in with a password and a TOTP code).
OPERATOR_SCOPES = ["dossier:process", "dossier:read", "feedback:process", "catalogue:edit", "catalogue:admin",
                   "payment:admin", "sync:admin", "identity:admin", "notification:read",
                   "notification:templates"]  # fmt: skip
# What a citizen's or an enterprise's apps ask for: file and follow dossiers, pay, send feedback,
# read their notices.
CITIZEN_SCOPES = ["dossier:submit", "dossier:read", "payment:pay", "feedback:send", "notification:read"]


async def seed_clients(uow: IdentityUnitOfWork, settings: IdentitySettings) -> None:
    """``demo-web`` (public, code + PKCE), ``demo-province`` (confidential, client credentials,
    ``sync:push`` for agency 000.00.01.H22), ``demo-province-portal`` (a province's own portal
    signing its users in through the national SSO: confidential, code + PKCE, told of sign-outs
    by back-channel logout at ``deploy/sandbox/province_portal.py``) and
    ``demo-operator`` (the officials' and operators' console: public, code + PKCE, the
    processing and admin scopes), ``api-docs`` (the gateway's Swagger UI: public, code +
    PKCE, back to ``<issuer>/docs/oauth2-redirect.html``, a citizen's scopes) and
    ``notification-service`` (confidential, client credentials, ``identity:contacts``, its secret
    from the settings); see the README."""
    existing = {client.client_id for client in await uow.clients.all()}
    if "demo-web" not in existing:
        await create_client(
            uow,
            client_id="demo-web",
            name="Cổng Dịch vụ công (web, demo)",
            kind=ClientKind.PUBLIC,
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[DEMO_WEB_REDIRECT],
            post_logout_redirect_uris=["http://127.0.0.1:8765/"],
            allowed_scopes=CITIZEN_SCOPES,
        )
    if "demo-province" not in existing:
        await create_client(
            uow,
            client_id="demo-province",
            name="Hệ thống một cửa tỉnh (demo)",
            kind=ClientKind.CONFIDENTIAL,
            grant_types=["client_credentials"],
            allowed_scopes=["sync:push"],
            agencies=["000.00.01.H22"],
            secret=DEMO_PROVINCE_SECRET,
        )
    if "demo-province-portal" not in existing:
        await create_client(
            uow,
            client_id="demo-province-portal",
            name="Cổng dịch vụ công tỉnh Quảng Ninh (demo)",
            kind=ClientKind.CONFIDENTIAL,
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[DEMO_PROVINCE_PORTAL_REDIRECT],
            post_logout_redirect_uris=["http://127.0.0.1:8766/"],
            secret=DEMO_PROVINCE_PORTAL_SECRET,
            backchannel_logout_uri=DEMO_PROVINCE_PORTAL_BACKCHANNEL,
            backchannel_logout_session_required=True,
        )
    else:  # seeded before back-channel logout: register its logout URI now
        portal = await uow.clients.get("demo-province-portal", include_disabled=True)
        if portal is not None and portal.backchannel_logout_uri is None:
            await uow.clients.set_backchannel_logout("demo-province-portal", DEMO_PROVINCE_PORTAL_BACKCHANNEL, True)
    if "demo-operator" not in existing:
        await create_client(
            uow,
            client_id="demo-operator",
            name="Bảng điều khiển cán bộ và quản trị (demo)",
            kind=ClientKind.PUBLIC,
            grant_types=["authorization_code"],  # no refresh token: a console session is short
            redirect_uris=[DEMO_OPERATOR_REDIRECT],
            post_logout_redirect_uris=["http://127.0.0.1:8767/"],
            allowed_scopes=OPERATOR_SCOPES,
        )
    if "api-docs" not in existing:
        await create_client(
            uow,
            client_id="api-docs",
            name="Tài liệu API (Swagger UI)",
            kind=ClientKind.PUBLIC,
            grant_types=["authorization_code"],
            redirect_uris=[f"{settings.oidc_issuer.rstrip('/')}/docs/oauth2-redirect.html"],
            allowed_scopes=CITIZEN_SCOPES,
        )
    if NOTIFICATION_CLIENT not in existing:
        await create_client(
            uow,
            client_id=NOTIFICATION_CLIENT,
            name="Dịch vụ thông báo",
            kind=ClientKind.CONFIDENTIAL,
            grant_types=["client_credentials"],
            allowed_scopes=[CONTACTS_SCOPE],
            secret=settings.notification_client_secret.get_secret_value(),
        )
