"""Pushed authorization requests (RFC 9126): a client sends its authorization request to the
PAR endpoint, authenticated as at the token endpoint, and gets a ``request_uri`` to send the
browser with instead (``client_id`` + ``request_uri``). The request is checked when pushed and
again when used; it is bound to the client, short-lived until first used, and yields one code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..adapters.oauth import digest, new_secret
from ..domain.oauth import Client, OAuthError
from ..domain.pushed import REQUEST_URI_PREFIX, PushedRequest
from ..settings import IdentitySettings
from . import dpop
from .authorize import PushedParameters, Unrecognised, UnsafeRedirect, parse_request
from .unit_of_work import IdentityUnitOfWork

# Client authentication travels with the pushed request but is no part of it (RFC 9126 §2.1).
_CLIENT_AUTHENTICATION = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
# Outside the pushed request, only these of the browser's query count at the authorization
# endpoint (RFC 9126 §4): the client, the request URI, and the language of the pages.
_ALONGSIDE = ("client_id", "request_uri", "ui_locales")


@dataclass(frozen=True, slots=True)
class Pushed:
    """RFC 9126 §2.2's answer."""

    request_uri: str
    expires_in: int


async def push(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    client: Client,
    form: Mapping[str, str],
    proofs: Sequence[str],
    now: datetime,
) -> Pushed:
    """Check the authorization request as the authorization endpoint would, for the
    authenticated ``client``, and keep it under a new request URI. A DPoP proof sent with it
    binds the code to its key (RFC 9449 §10.1), as ``dpop_jkt`` does."""
    params = {k: v for k, v in form.items() if k not in _CLIENT_AUTHENTICATION}
    if params.setdefault("client_id", client.client_id) != client.client_id:
        raise OAuthError("invalid_request", "client_id is not the client that authenticated.")
    if "request_uri" in params:
        raise OAuthError("invalid_request", "A pushed request cannot itself name a request_uri.")
    if "request" in params:
        raise OAuthError("request_not_supported", "Request objects (JAR) are not supported.")
    jkt = await dpop.proof_key(uow, client, proofs, settings.oidc_issuer + "/oauth2/par", now) if proofs else None
    if jkt is not None and params.setdefault("dpop_jkt", jkt) != jkt:
        raise OAuthError("invalid_dpop_proof", "dpop_jkt is not the thumbprint of the DPoP proof's key.")
    await parse_request(uow, params, pushing=True)
    request_uri = REQUEST_URI_PREFIX + new_secret()
    await uow.pushed_requests.add(
        PushedRequest(
            request_uri_hash=digest(request_uri), client_id=client.client_id, parameters=params,
            expires_at=now + timedelta(seconds=settings.pushed_request_seconds),
        )
    )  # fmt: skip
    return Pushed(request_uri, settings.pushed_request_seconds)


async def with_pushed(
    uow: IdentityUnitOfWork, settings: IdentitySettings, params: Mapping[str, str], now: datetime
) -> dict[str, str]:
    """The authorization request ``params`` stand for: themselves, or the pushed request their
    ``request_uri`` names (with the request URI, which marks it as pushed). An unknown, expired,
    used or another client's request URI is refused on the provider's page (the redirect URI it
    would name cannot be trusted)."""
    request_uri = params.get("request_uri")
    if request_uri is None:
        return dict(params)
    if not request_uri.startswith(REQUEST_URI_PREFIX) or len(request_uri) > 256:
        raise UnsafeRedirect("invalid_request", "The request_uri is not one this provider issued.")
    until = now + timedelta(seconds=settings.pushed_request_sign_in_seconds)
    pushed = await uow.pushed_requests.open(digest(request_uri), params.get("client_id", ""), now, until)
    if pushed is None:
        raise Unrecognised("invalid_request", "The request_uri is unknown, expired, used, or another client's.")
    alongside = {name: params[name] for name in _ALONGSIDE if name in params}
    return PushedParameters({**pushed.parameters, **alongside})
