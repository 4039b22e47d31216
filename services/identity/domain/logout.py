"""OpenID Connect Back-Channel Logout 1.0: what a logout token says, which URIs may receive one,
and how often a delivery is tried. Pure Python.

When a person signs out at the portal, or an administrator locks or deletes the account, every
relying party that received tokens in one of the person's browser sessions, and registered a
``backchannel_logout_uri``, is sent a logout token (§2.4): a JWT typed ``logout+jwt`` naming the
person (``sub``) and the session (``sid``), never a ``nonce`` (so it cannot pass as an ID token).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.json import JwtClaims

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_URI_LENGTH = 2000
# A logout token lives this long (§2.4 "SHOULD be short"): delivery signs it at each attempt.
LOGOUT_TOKEN_SECONDS = 120
# A logout URI (§2.2: absolute, no fragment): ``https`` to a host named by DNS labels (or an
# IPv4 address), or ``http`` to this machine for development relying parties; an optional port,
# path and query of URL characters; no credentials, no fragment. The API document states it as
# the field's pattern (an ECMA 262 and Python regex alike), and the service holds it.
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_PORT = "(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
_PATH = "(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?"
_QUERY = "([?][A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?"
BACKCHANNEL_URI_PATTERN = (
    rf"^(https://({_LABEL}[.])*{_LABEL}|http://(127[.]0[.]0[.]1|localhost)){_PORT}{_PATH}{_QUERY}$"
)
_BACKCHANNEL_URI = re.compile(BACKCHANNEL_URI_PATTERN)


class LogoutReason(StrEnum):
    SIGNED_OUT = "signed-out"  # RP-initiated logout, or the person signed out at the portal
    LOCKED = "locked"  # an administrator locked the account
    DELETED = "deleted"  # the account was deleted


def backchannel_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a back-channel logout URI (:data:`BACKCHANNEL_URI_PATTERN`, at most
    :data:`MAX_URI_LENGTH` characters), or None."""
    if len(uri) > MAX_URI_LENGTH:
        return f"backchannel_logout_uri is longer than {MAX_URI_LENGTH} characters."
    if not _BACKCHANNEL_URI.fullmatch(uri):
        return (
            "backchannel_logout_uri must be an absolute https URL (http only to 127.0.0.1 or localhost), "
            "without credentials or fragment."
        )
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
