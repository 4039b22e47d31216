"""Bearer-token verification in every service, from the issuer's cached JWKS.

``Annotated[Principal, require_scopes("dossier:submit")]`` in a route signature gives the
verified caller, or answers 401 (no or bad token) / 403 (missing scope);
``require_acr(level, *scopes)`` also asks for a sign-in at ``level`` (RFC 9470 step-up, 401).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from fastapi import Depends, Request

from contracts.assurance import AcrValue
from contracts.json import JwtClaims

from . import dpop, jose
from .assurance import check_assurance
from .errors import Forbidden, ServiceUnavailable, Unauthorized
from .logging import get_logger

log = get_logger(__name__)

# Clock skew allowed between the issuer and this service when judging exp, nbf and iat.
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class Principal:
    """Who calls: a person (``sub`` is the account id) or a machine client (``client_id``)."""

    subject: str
    scopes: frozenset[str]
    client_id: str | None = None
    acr: str | None = None
    claims: JwtClaims = field(default_factory=dict, compare=False, repr=False)

    def has(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes

    @property
    def auth_time(self) -> object:
        """When the person signed in (``auth_time``, seconds since the epoch), as the token says."""
        return self.claims.get("auth_time")

    def check_assurance(self, required: AcrValue, *, max_age: int | None = None) -> None:
        """Raise ``InsufficientAuthentication`` (401 with the RFC 9470 challenge) unless this
        caller signed in at ``required`` or above (and, with ``max_age``, that recently)."""
        check_assurance(self.acr, self.auth_time, required=required, max_age=max_age, now=datetime.now(UTC))


class JWKSCache:
    """Signing keys of the issuer, fetched on first use, refreshed after ``ttl`` or when a
    token names an unknown ``kid`` (at most once every ``min_refresh_interval``)."""

    def __init__(
        self, url: str, *, ttl: float = 300, min_refresh_interval: float = 10, client: httpx.AsyncClient | None = None
    ):
        self.url = url
        self.ttl = ttl
        self.min_refresh_interval = min_refresh_interval
        self._client = client
        self._keys: dict[str, jose.Key] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> Any:
        if kid is None:
            raise jose.TokenInvalid("token has no key id")
        stale = time.monotonic() - self._fetched_at > self.ttl
        if stale or (kid not in self._keys and time.monotonic() - self._fetched_at > self.min_refresh_interval):
            await self._refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise jose.TokenInvalid("token signed with an unknown key") from None

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.min_refresh_interval and self._keys:
                return
            client = self._client or httpx.AsyncClient(timeout=3.0)
            try:
                response = await client.get(self.url)
                response.raise_for_status()
                keys = {}
                for item in response.json().get("keys", []):
                    try:
                        keys[item["kid"]] = jose.key_from_jwk(item)
                    except (jose.TokenInvalid, KeyError):
                        continue
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("JWKS fetch failed", url=self.url, error=str(exc))
                if not self._keys:
                    raise ServiceUnavailable("The token issuer's keys cannot be fetched right now.") from exc
                return  # keep serving with the keys we have
            finally:
                if self._client is None:
                    await client.aclose()
            self._keys = keys
            self._fetched_at = time.monotonic()


class TokenVerifier:
    """Checks bearer tokens against the issuer's keys, remembering the ones it has checked.

    A client sends the same access token with every request for its lifetime; the signature and
    claims of a token string cannot change, so a token checked once is not checked again while
    it is unexpired and the key that signed it is still the issuer's (a key taken out of the
    JWKS, or replaced, makes its tokens be checked again, and fail). Bounded by count.

    Only access tokens pass (header ``typ`` ``at+jwt``, RFC 9068), carrying ``iss``, ``exp``
    and an ``aud`` that names ``audience``: an ID token, or a token without an audience, is 401."""

    def __init__(
        self,
        jwks: JWKSCache,
        *,
        issuer: str,
        audience: str,
        remember: int = 20_000,
        proofs: dpop.ProofChecker | None = None,
    ):
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.remember = remember
        # DPoP proofs are checked against the issuer's origin: the public URL every path is reached at.
        self.proofs = proofs or dpop.ProofChecker(issuer)
        self._checked: OrderedDict[str, tuple[jose.Key, JwtClaims]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        try:
            header = jose.unverified_header(token)
            key = await self.jwks.key(header.get("kid"))
            claims = self._known(token, key)
            if claims is None:
                claims = jose.decode(token, key, issuer=self.issuer, audience=self.audience, leeway=LEEWAY_SECONDS)
                if self.remember:
                    self._checked[token] = (key, claims)
                    if len(self._checked) > self.remember:
                        self._checked.popitem(last=False)
        except jose.TokenInvalid as exc:
            raise Unauthorized(str(exc)) from exc
        scopes = frozenset(str(claims.get("scope", "")).split())
        subject = claims.get("sub") or claims.get("client_id")
        if not subject:
            raise Unauthorized("token has no subject")
        return Principal(
            subject=str(subject), scopes=scopes, client_id=claims.get("client_id"), acr=claims.get("acr"), claims=claims
        )

    async def verify_request(self, request: Request) -> Principal:
        """The caller of ``request``: its access token (:meth:`verify`) sent as the token's binding
        says (RFC 9449 §7). A token bound to a key (``cnf.jkt``) comes as ``Authorization: DPoP``
        with a ``DPoP`` proof for this request, signed by that key, not replayed; a token bound to
        no key comes as ``Bearer``. Anything else is 401 with a ``DPoP`` challenge."""
        scheme, token = presented_token(request)
        principal = await self.verify(token)
        jkt = confirmation_key(principal.claims)
        if scheme == "bearer":
            if jkt is not None:
                raise dpop.DpopTokenMisused("This token is bound to a key: send it as DPoP, with a proof.")
            return principal
        if jkt is None:
            raise dpop.DpopTokenMisused("This token is not bound to a key: send it as a bearer token.")
        proofs = request.headers.getlist("dpop")
        if len(proofs) != 1:
            raise dpop.DpopProofInvalid("A DPoP-bound token needs exactly one DPoP proof header.")
        path = request.scope.get("raw_path") or request.url.path.encode()
        self.proofs.check(proofs[0], method=request.method, path=path.decode("latin-1"), access_token=token, jkt=jkt)
        return principal

    def _known(self, token: str, key: jose.Key) -> JwtClaims | None:
        """The claims of ``token`` if it was checked with ``key`` and has not expired since."""
        found = self._checked.get(token)
        if found is None or found[0] is not key:
            return None
        if time.time() >= float(found[1]["exp"]) + LEEWAY_SECONDS:  # as decode would judge it now
            del self._checked[token]
            return None
        self._checked.move_to_end(token)
        return found[1]


def confirmation_key(claims: JwtClaims) -> str | None:
    """The thumbprint of the key a token is bound to (``cnf.jkt``, RFC 9449 §6.1), if any."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if cnf is not None and not isinstance(jkt, str):
        raise Unauthorized("token has a confirmation this portal does not know")
    return jkt


def presented_token(request: Request) -> tuple[str, str]:
    """The access token of ``request`` and its scheme (``bearer`` or ``dpop``): 401 without one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not token.strip():
        raise Unauthorized("A bearer or DPoP access token is required.")
    return scheme, token.strip()


# The attribute on a dependency saying what it asks of the token (see :func:`demands_token`).
_DEMAND_ATTRIBUTE = "__scopes_demanded__"
# The attribute on a dependency saying which sign-in it asks for (see :func:`require_acr`).
_ACR_ATTRIBUTE = "__acr_demanded__"
D = TypeVar("D", bound=Callable[..., Any])


def demands_token(*alternatives: Iterable[str]) -> Callable[[D], D]:
    """Marks a dependency that checks the caller's bearer token: it passes a token holding every
    scope of one of ``alternatives`` (none: any valid token). The services' OpenAPI documents
    state it as the operation's ``security`` (``kit.openapi``); nothing changes at run time."""
    demand = tuple(tuple(sorted(set(scopes))) for scopes in alternatives) or ((),)

    def mark(dependency: D) -> D:
        setattr(dependency, _DEMAND_ATTRIBUTE, demand)
        return dependency

    return mark


def token_demand(dependency: Any) -> tuple[tuple[str, ...], ...] | None:
    """What ``dependency`` asks of the caller's token (its alternative sets of scopes), if anything."""
    return getattr(dependency, _DEMAND_ATTRIBUTE, None)


def require_scopes(*scopes: str) -> Any:
    """A dependency giving the verified :class:`Principal`, which must hold every scope."""

    @demands_token(scopes)
    async def dependency(request: Request) -> Principal:
        return await _caller(request, scopes)

    return Depends(dependency)


async def _caller(request: Request, scopes: Iterable[str]) -> Principal:
    """The verified caller of ``request`` (its token sent as its binding says), holding ``scopes``."""
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify_request(request)
    missing = set(scopes) - principal.scopes
    if missing:
        raise Forbidden(f"Missing scope: {' '.join(sorted(missing))}.")
    return principal


def acr_demand(dependency: Any) -> tuple[AcrValue | None, int | None] | None:
    """The level of assurance and ``max_age`` ``dependency`` asks of the caller's sign-in, if any
    (``None`` as the level: one the use case decides, such as a dossier's online service's)."""
    return getattr(dependency, _ACR_ATTRIBUTE, None)


def demands_acr(level: AcrValue | None, max_age: int | None = None) -> Callable[[D], D]:
    """Marks a dependency (or a use case's route) as refusing a sign-in below ``level`` with the
    RFC 9470 challenge; the OpenAPI document states the 401 (``kit.openapi``). ``level`` None: the
    level is decided per request."""

    def mark(dependency: D) -> D:
        setattr(dependency, _ACR_ATTRIBUTE, (level, max_age))
        return dependency

    return mark


def require_acr(level: AcrValue, *scopes: str, max_age: int | None = None) -> Any:
    """A dependency giving the verified :class:`Principal`, which must hold every scope (403
    otherwise) and have signed in at ``level`` or above, at most ``max_age`` seconds ago when
    given: else 401 with ``WWW-Authenticate: Bearer error="insufficient_user_authentication",
    acr_values="<level>"`` (and ``max_age``), RFC 9470, so that the client asks the OpenID provider
    for a token at that level (a second factor, the national e-ID) and tries again."""
    if max_age is not None and max_age < 0:
        raise ValueError("max_age is a number of seconds, 0 or more")

    @demands_acr(level, max_age)
    @demands_token(scopes)
    async def dependency(request: Request) -> Principal:
        principal = await _caller(request, scopes)
        principal.check_assurance(level, max_age=max_age)
        return principal

    return Depends(dependency)
