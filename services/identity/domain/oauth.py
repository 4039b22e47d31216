"""OAuth 2.0 / OpenID Connect rules, as pure functions: PKCE, redirect URIs, scopes, the
audience of access tokens, signing-key rotation, refresh-token reuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.json import Jwk, JwkSet
from contracts.services import service_names
from services.kit.errors import DomainError

OIDC_SCOPES = frozenset({"openid", "profile", "phone", "email", "offline_access"})
# Which service an API scope is for (any service of the registry): the token's audience is
# derived from its scopes.
SERVICE_AUDIENCES = service_names()
API_SCOPE = re.compile(rf"^({'|'.join(SERVICE_AUDIENCES)}):[a-z_]+$")
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CODE_CHALLENGE_PATTERN = r"^[A-Za-z0-9\-_]{43}$"
_CHALLENGE = re.compile(CODE_CHALLENGE_PATTERN)


class OAuthError(DomainError):
    """An OAuth error (RFC 6749 §5.2): its ``error`` code and ``error_description``, both also
    members of the problem body."""

    def __init__(self, error: str, description: str):
        super().__init__(description, error=error, error_description=description)
        self.error = error


class ClientKind(StrEnum):
    PUBLIC = "public"  # web and mobile apps: no secret, PKCE mandatory
    CONFIDENTIAL = "confidential"  # provincial portals, ministry systems


class GrantType(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name
    CLIENT_CREDENTIALS = "client_credentials"


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def valid_challenge(challenge: str | None, method: str | None) -> bool:
    return challenge is not None and method == "S256" and bool(_CHALLENGE.fullmatch(challenge))


def verify_pkce(challenge: str | None, verifier: str | None) -> None:
    """RFC 7636 with S256 only. A verifier without a challenge is refused too (a downgrade)."""
    if challenge is None and verifier is None:
        return
    if challenge is None:
        raise OAuthError("invalid_grant", "A code_verifier was sent for a code issued without a challenge.")
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        raise OAuthError("invalid_grant", "A valid code_verifier is required.")
    if not hmac.compare_digest(pkce_s256(verifier), challenge):
        raise OAuthError("invalid_grant", "The code_verifier does not match the code_challenge.")


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Space-separated scopes, deduplicated in order."""
    return tuple(dict.fromkeys((raw or "").split()))


def unknown_scopes(scopes: tuple[str, ...]) -> list[str]:
    return [s for s in scopes if s not in OIDC_SCOPES and not API_SCOPE.match(s)]


def grant(requested: tuple[str, ...], allowed: frozenset[str]) -> tuple[str, ...]:
    """The scopes granted: those requested that are allowed (OIDC ones are always allowed)."""
    return tuple(s for s in requested if s in OIDC_SCOPES or s in allowed)


def audience(scopes: tuple[str, ...], client_id: str) -> list[str]:
    """Services a token is for (from its API scopes), plus identity for userinfo when ``openid``."""
    services = [s.split(":", 1)[0] for s in scopes if API_SCOPE.match(s)]
    if "openid" in scopes:
        services.append("identity")
    return list(dict.fromkeys(services)) or [client_id]


def redirect_uri_allowed(uri: str | None, registered: tuple[str, ...]) -> bool:
    """Exact string match only: no prefix, no wildcard, no normalisation."""
    return uri is not None and uri in registered


@dataclass(frozen=True)
class KeyTimes:
    kid: str
    activates_at: datetime


def signing_kid(keys: list[KeyTimes], now: datetime) -> str | None:
    """The key that signs now: the most recently activated one."""
    active = [k for k in keys if k.activates_at <= now]
    return max(active, key=lambda k: k.activates_at).kid if active else None


def published_kids(keys: list[KeyTimes], now: datetime, longest_token: timedelta) -> list[str]:
    """Keys in the JWKS: every key not yet signing (published ahead of use), the signing one,
    and retired ones until the last token they signed has expired."""
    ordered = sorted(keys, key=lambda k: k.activates_at)
    out = []
    for i, key in enumerate(ordered):
        successor = next((k for k in ordered[i + 1 :] if k.activates_at <= now), None)
        if successor is None or successor.activates_at + longest_token > now:
            out.append(key.kid)
    return out


class RefreshOutcome(StrEnum):
    ROTATE = "rotate"  # first use: issue the next token of the family
    GRACE = "grace"  # a concurrent refresh with the same token: answer again, keep the family
    REUSED = "reused"  # replay after the grace window: revoke the whole family


def refresh_outcome(used_at: datetime | None, now: datetime, grace: timedelta) -> RefreshOutcome:
    if used_at is None:
        return RefreshOutcome.ROTATE
    return RefreshOutcome.GRACE if now - used_at <= grace else RefreshOutcome.REUSED


# --- entities -------------------------------------------------------------------------------

# A JSON Web Key Set or one key of it (RFC 7517): members depend on the key type and are checked
# by the JOSE library, not by us (``contracts.json``).
JsonWebKey = Jwk
JsonWebKeySet = JwkSet


@dataclass(slots=True)
class Client:
    """A registered OAuth client: a web or mobile app, a provincial portal, a ministry system."""

    client_id: str
    name: str
    kind: ClientKind
    auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    allowed_scopes: frozenset[str]
    agencies: tuple[str, ...]
    secret_hash: str | None = None
    # During a secret rotation the previous secret keeps working until this time.
    previous_secret_hash: str | None = None
    previous_secret_expires_at: datetime | None = None
    jwks: JsonWebKeySet | None = None  # public keys for private_key_jwt
    disabled_at: datetime | None = None
    # OpenID Connect Back-Channel Logout 1.0: where logout tokens go, and whether the client
    # needs the ``sid`` claim in them (and in its ID tokens).
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    # RFC 9126 §6: authorization requests only through the PAR endpoint.
    require_pushed_authorization_requests: bool = False
    # RFC 9449 §5.2: every token request carries a DPoP proof; its tokens are bound to the key.
    dpop_bound_access_tokens: bool = False
    # The FAPI 2.0 Security Profile (docs/fapi.md): PAR, DPoP, PKCE, private_key_jwt, 60 s codes.
    fapi2: bool = False

    @property
    def requires_par(self) -> bool:
        return self.require_pushed_authorization_requests or self.fapi2

    @property
    def requires_dpop(self) -> bool:
        return self.dpop_bound_access_tokens or self.fapi2

    def secret_matches(self, given_hash: str, now: datetime) -> bool:
        """``given_hash`` (the digest of the presented secret) is the secret's, or the previous
        one's while its grace lasts; compared in constant time."""
        current = hmac.compare_digest(given_hash, self.secret_hash or "")
        previous = (
            self.previous_secret_hash is not None
            and self.previous_secret_expires_at is not None
            and self.previous_secret_expires_at > now
            and hmac.compare_digest(given_hash, self.previous_secret_hash)
        )
        return current or previous

    def assertion_keys(self) -> dict[str, JsonWebKey]:
        """The client's public keys by ``kid``."""
        return {k.get("kid"): k for k in (self.jwks or {}).get("keys", [])}


@dataclass(slots=True)
class SigningKey:
    kid: str
    private_key: bytes  # PEM, encrypted with the key-encryption key
    public_jwk: JsonWebKey
    activates_at: datetime

    @property
    def times(self) -> KeyTimes:
        return KeyTimes(self.kid, self.activates_at)


@dataclass(slots=True, kw_only=True)
class SignInRecord:
    """Who signed in and how, carried from the browser session to the code to the refresh-token
    family: every token issued later says the same ``acr``, ``amr`` and ``auth_time``."""

    account_id: str
    acr: str
    amr: tuple[str, ...]
    auth_time: datetime
    agencies: tuple[str, ...] = ()
    # The browser session's id as relying parties see it (``sid``, never the cookie): ID tokens
    # carry it, and back-channel logout tokens name it.
    sid: str | None = None
    # The enterprise mandate the person acts under (``domain.mandates``): codes and refresh tokens only.
    mandate_id: str | None = None


@dataclass(slots=True, kw_only=True)
class BrowserSession(SignInRecord):
    id_hash: str
    expires_at: datetime
    revoked_at: datetime | None = None

    def valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(slots=True, kw_only=True)
class AuthorizationCode(SignInRecord):
    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None = None
    code_challenge: str | None = None
    expires_at: datetime
    # RFC 9449 §10: the thumbprint of the key the token request's DPoP proof must be signed with.
    dpop_jkt: str | None = None


@dataclass(slots=True, kw_only=True)
class RefreshToken(SignInRecord):
    token_hash: str
    family_id: str
    client_id: str
    scope: str
    code_hash: str | None = None  # the authorization code the family started from
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    # RFC 9449 §5: a public client's refresh token is bound to its DPoP key (a confidential
    # client's is bound to its authentication instead).
    dpop_jkt: str | None = None

    def usable_by(self, client_id: str, now: datetime) -> bool:
        return self.client_id == client_id and self.revoked_at is None and self.expires_at > now
