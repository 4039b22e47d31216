"""OpenID Connect Back-Channel Logout 1.0: what a logout token says, which URIs may receive one,
and how often a delivery is tried. Pure Python.

When a person signs out at the portal, or an administrator locks or deletes the account, every
relying party that received tokens in one of the person's browser sessions, and registered a
``backchannel_logout_uri``, is sent a logout token (§2.4): a JWT typed ``logout+jwt`` naming the
person (``sub``) and the session (``sid``), never a ``nonce`` (so it cannot pass as an ID token).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from contracts.json import JwtClaims

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_URI_LENGTH = 2000
# A logout token lives this long (§2.4 "SHOULD be short"): delivery signs it at each attempt.
LOGOUT_TOKEN_SECONDS = 120
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class LogoutReason(StrEnum):
    SIGNED_OUT = "signed-out"  # RP-initiated logout, or the person signed out at the portal
    LOCKED = "locked"  # an administrator locked the account
    DELETED = "deleted"  # the account was deleted


def backchannel_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a back-channel logout URI (§2.2: absolute, no fragment), or None.
    ``https`` only, but ``http`` to this machine for development relying parties; no
    credentials in the URL (the token is the credential)."""
    if len(uri) > MAX_URI_LENGTH:
        return f"backchannel_logout_uri is longer than {MAX_URI_LENGTH} characters."
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return "backchannel_logout_uri is not a URL."
    if parts.scheme not in ("https", "http") or not host:
        return "backchannel_logout_uri must be an absolute https URL."
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "backchannel_logout_uri must use https (http only to 127.0.0.1 or localhost, for development)."
    if parts.fragment or "#" in uri:
        return "backchannel_logout_uri must not have a fragment."
    if parts.username is not None or parts.password is not None:
        return "backchannel_logout_uri must not carry credentials."
    return None


@dataclass(slots=True, kw_only=True)
class PendingLogout:
    """A logout token to deliver to one relying party (``backchannel_logouts``), recorded in the
    transaction that ended the session or the account."""

    id: int
    client_id: str
    uri: str
    account_id: str
    sid: str | None
    reason: str
    created_at: datetime
    attempts: int = 0


def logout_token_claims(
    *, issuer: str, client_id: str, subject: str, sid: str | None, now: datetime, jti: str | None = None
) -> JwtClaims:
    """The claims of a logout token (§2.4): ``iss``, ``aud`` (the client), ``iat``, a short
    ``exp``, a fresh ``jti``, the back-channel logout event, ``sub`` and ``sid`` when known.
    Never a ``nonce``."""
    claims: JwtClaims = {
        "iss": issuer,
        "aud": client_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=LOGOUT_TOKEN_SECONDS)).timestamp()),
        "jti": jti or uuid.uuid4().hex,
        "sub": subject,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    if sid:
        claims["sid"] = sid
    return claims


def retry_delay(attempts: int, *, base_seconds: float, cap_seconds: float) -> timedelta:
    """How long after the ``attempts``-th failed attempt (1 for the first) to try again: the base
    doubled each time, capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** min(max(attempts, 1) - 1, 20)))
