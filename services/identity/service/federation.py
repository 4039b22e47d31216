"""Signing in through the national e-ID (VNeID): identity as an OpenID Connect relying party.

The flow: the sign-in page's "Sign in with VNeID" starts here (:func:`begin`) carrying the
portal's own pending authorization request; the person signs in at the e-ID; its callback comes
back (:func:`complete`), which checks that the browser is the one that started it, exchanges the
code (PKCE S256, ``private_key_jwt`` signed with identity's current signing key, published in
its JWKS, where the e-ID reads it), verifies the ID token against the e-ID's keys, and links the
e-ID account to a portal account (by the personal identification number or the tax code),
creating it on the first sign-in. The caller then opens the portal session and answers the
original client as after a password sign-in.

Nothing secret about the flow is stored: the ``state`` and the browser's cookie are kept as
hashes; the PKCE verifier and the ``nonce`` are derived from the cookie, which only the browser
holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from contracts.events.identity_accounts import AccountRegistered
from services.kit import jose
from services.kit.ids import new_id
from services.kit.logging import get_logger, mask

from ..adapters.eid import ASSERTION_TYPE, EidClient
from ..adapters.oauth import digest, new_secret
from ..domain import identifiers
from ..domain.accounts import Account, AccountDisabled, AccountStatus
from ..domain.assurance import AccountKind, SignedIn
from ..domain.federation import (
    LEVEL_ASSURANCE,
    EidAnswerRefused,
    EidDeclined,
    EidIdentity,
    EidKind,
    EidLink,
    EidSignInExpired,
    IdentifierMismatch,
    LinkAction,
    LinkEvent,
    NotLinked,
    PendingEidSignIn,
    holds_identifier,
)
from ..domain.identifiers import LoginKind
from ..settings import IdentitySettings
from .keys import signer
from .sign_in import Audit
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)

ASSERTION_SECONDS = 60
_PERSONAL_ID = re.compile(r"\d{12}")
_TAX_CODE = re.compile(r"\d{10}(-\d{3})?")
MAX_CLAIM = 256  # names, identifiers and subjects longer than this are not the e-ID's


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the cookie that binds the sign-in to it."""

    authorization_url: str
    browser_secret: str


@dataclass(frozen=True)
class Completed:
    signed_in: SignedIn
    request: dict[str, str]  # the portal's own authorization request, as it was carried


def _derived(browser_secret: str, purpose: str) -> str:
    raw = hashlib.sha256(f"{purpose}\0{browser_secret}".encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def enabled(settings: IdentitySettings) -> bool:
    return bool(settings.eid_issuer)


async def begin(
    uow: IdentityUnitOfWork, settings: IdentitySettings, eid: EidClient, request: dict[str, str], now: datetime,
    *, fresh_sign_in: bool = False,
) -> Started:  # fmt: skip
    """Remember the portal's authorization request (already validated by the caller) under a new
    ``state``, and build the e-ID's authorization URL (code, PKCE S256, nonce). The client's
    ``max_age`` goes on to the e-ID, and so does ``prompt=login`` when the client asked for a
    fresh sign-in (``fresh_sign_in``): the e-ID's own session must not stand in for one."""
    metadata = await eid.metadata()
    state, browser = new_secret(), new_secret()
    expires = now + timedelta(seconds=settings.eid_sign_in_seconds)
    await uow.eid_sign_ins.add(PendingEidSignIn(digest(state), digest(browser), request, expires), now)
    query = {
        "response_type": "code", "client_id": settings.eid_client_id, "redirect_uri": callback_uri(settings),
        "scope": settings.eid_scope, "state": state, "nonce": _derived(browser, "nonce"),
        "code_challenge": _challenge(_derived(browser, "pkce")), "code_challenge_method": "S256",
    }  # fmt: skip
    if request.get("ui_locales"):
        query["ui_locales"] = request["ui_locales"]
    if request.get("max_age"):
        query["max_age"] = request["max_age"]
    if fresh_sign_in:
        query["prompt"] = "login"
    separator = "&" if "?" in metadata.authorization_endpoint else "?"
    return Started(f"{metadata.authorization_endpoint}{separator}{urlencode(query)}", browser)


def callback_uri(settings: IdentitySettings) -> str:
    return f"{settings.oidc_issuer}/oauth2/eid/callback"


async def complete(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    eid: EidClient,
    params: dict[str, str],
    browser_secret: str | None,
    *,
    client_ip: str,
    now: datetime,
) -> Completed:
    """The e-ID's callback: the sign-in this browser started, the code exchanged, the ID token
    verified, the account linked (or created). Raises the domain's refusals; what it audited is
    committed by the caller all the same."""
    # The browser's cookie is compared by its hash in the lookup itself: another browser holding
    # the callback URL finds nothing, and leaves the sign-in to the browser that started it.
    state = params.get("state", "")[:MAX_CLAIM]
    pending = await uow.eid_sign_ins.take(digest(state), digest(browser_secret)) if browser_secret else None
    if pending is None or browser_secret is None or pending.expires_at <= now:
        raise EidSignInExpired("This e-ID sign-in was not started in this browser, or is over.")
    metadata = await eid.metadata()
    if "iss" in params and params["iss"].rstrip("/") != metadata.issuer.rstrip("/"):  # RFC 9207
        raise EidAnswerRefused("The answer comes from another issuer.")
    if "error" in params:
        raise EidDeclined(f"The e-ID ended the sign-in: {params['error'][:64]}.", pending.request)
    code = params.get("code", "")
    if not code or len(code) > 2048:
        raise EidAnswerRefused("The e-ID's answer has no authorization code.")
    tokens = await eid.exchange(
        {
            "grant_type": "authorization_code", "code": code, "redirect_uri": callback_uri(settings),
            "code_verifier": _derived(browser_secret, "pkce"), "client_id": settings.eid_client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": await _client_assertion(uow, settings, metadata.token_endpoint, now),
        }
    )  # fmt: skip
    identity = await verify_id_token(eid, settings, tokens.get("id_token"), _derived(browser_secret, "nonce"), now)
    max_age = pending.request.get("max_age")
    if (
        max_age is not None
        and (now - identity.auth_time).total_seconds() > int(max_age) + settings.eid_id_token_leeway_seconds
    ):
        # OIDC Core §3.1.2.1: the e-ID answered from a sign-in older than the client accepts.
        raise EidAnswerRefused("The e-ID's sign-in is older than the client's max_age.")
    signed_in = await link_and_sign_in(uow, settings, identity, client_ip=client_ip, now=now)
    return Completed(signed_in, pending.request)


async def _client_assertion(uow: IdentityUnitOfWork, settings: IdentitySettings, audience: str, now: datetime) -> str:
    """RFC 7523 §3: signed with identity's current signing key (in its JWKS, which the e-ID
    registered as the client's ``jwks_uri``); a new ``jti`` each time, a minute to live."""
    key = await signer(uow, settings, now)
    issued = int(now.timestamp())
    claims = {"iss": settings.eid_client_id, "sub": settings.eid_client_id, "aud": audience, "iat": issued,
              "exp": issued + ASSERTION_SECONDS, "jti": new_secret(24)}  # fmt: skip
    return jose.sign_pem(claims, key.private_pem, key.kid)


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM:
        raise EidAnswerRefused(f"The e-ID's ID token has no valid {name}.")
    return value


async def verify_id_token(
    eid: EidClient, settings: IdentitySettings, token: object, nonce: str, now: datetime
) -> EidIdentity:
    """OIDC Core §3.1.3.7: signature by a key of the e-ID's JWKS (RS256 only), ``iss``, ``aud``
    (and ``azp`` when several), ``exp``, ``iat``, the ``nonce`` of this browser's sign-in; then
    the claims identity needs."""
    if not isinstance(token, str) or len(token) > 16 * 1024:
        raise EidAnswerRefused("The e-ID's token answer has no ID token.")
    try:
        header = jose.unverified_header(token)
        kid = header.get("kid")
        keys = await eid.signing_keys(kid if isinstance(kid, str) else None)
        match = [k for k in keys if k.get("kid") == kid] if kid is not None else keys[:1] if len(keys) == 1 else []
        if not match:
            raise jose.TokenInvalid("no key of the e-ID has this kid")
        claims = jose.decode(
            token, jose.key_from_jwk(match[0]), issuer=eid.issuer, audience=settings.eid_client_id, typ=None,
            leeway=settings.eid_id_token_leeway_seconds,
        )  # fmt: skip
    except jose.TokenInvalid as exc:
        log.warning("national e-ID ID token refused", reason=str(exc)[:120])
        raise EidAnswerRefused(f"The e-ID's ID token does not verify ({exc}).") from None
    if header.get("typ") not in (None, "JWT", "jwt", "application/jwt"):
        raise EidAnswerRefused("The e-ID's ID token is not typed as an ID token.")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != settings.eid_client_id:
        raise EidAnswerRefused("The e-ID's ID token is for several parties and not authorised for this one.")
    if not isinstance(claims.get("iat"), int):
        raise EidAnswerRefused("The e-ID's ID token has no iat.")
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise EidAnswerRefused("The e-ID's ID token is not for this sign-in (nonce).")
    return identity_of(claims, now, settings.eid_id_token_leeway_seconds)


def identity_of(claims: dict[str, Any], now: datetime, leeway: int) -> EidIdentity:
    """Who the verified claims name; the identifier in its shape (the e-ID is the authority on
    its value), the level one the portal maps, ``auth_time`` not in the future."""
    acr = _text(claims, "acr")
    if acr not in LEVEL_ASSURANCE:
        raise EidAnswerRefused("The e-ID's ID token has a level this portal does not know.")
    try:
        kind = EidKind(_text(claims, "eid_type"))
    except ValueError:
        raise EidAnswerRefused("The e-ID's ID token has an account type this portal does not know.") from None
    if kind is EidKind.CITIZEN:
        identifier = _text(claims, "personal_identification_number")
        shape = _PERSONAL_ID
    else:
        identifier = _text(claims, "tax_code")
        shape = _TAX_CODE
    if not shape.fullmatch(identifier):
        raise EidAnswerRefused("The e-ID's identifier is not in the shape of its kind.")
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int) or isinstance(auth_time, bool) or auth_time > now.timestamp() + leeway:
        raise EidAnswerRefused("The e-ID's ID token has no valid auth_time.")
    amr = claims.get("amr")
    methods = tuple(m for m in amr if isinstance(m, str))[:10] if isinstance(amr, list) else ()
    phone = claims.get("phone_number") if claims.get("phone_number_verified") is True else None
    birthdate = _text(claims, "birthdate") if claims.get("birthdate") is not None else None
    return EidIdentity(
        subject=_text(claims, "sub"), kind=kind, identifier=identifier, acr=acr, amr=methods,
        auth_time=datetime.fromtimestamp(auth_time, UTC), name=_text(claims, "name"), birthdate=birthdate,
        phone=phone if isinstance(phone, str) else None,
    )  # fmt: skip


async def _audit(
    uow: IdentityUnitOfWork, account_id: str | None, action: LinkAction, reason: str, actor: str, subject: str,
    now: datetime,
) -> None:  # fmt: skip
    await uow.eid_links.record(LinkEvent(account_id, action, reason, actor, mask(subject, 4), now))


async def link_and_sign_in(
    uow: IdentityUnitOfWork, settings: IdentitySettings, identity: EidIdentity, *, client_ip: str, now: datetime
) -> SignedIn:
    """The portal account of this e-ID account: the linked one, or the one holding its identifier
    (linked now), or a new one. A linked account whose identifier differs from the e-ID's is
    refused, never merged; so is an account holding the identifier but linked to another e-ID
    account. Every link and refusal is audited; so is the sign-in."""
    record = Audit(uow, identity.identifier, client_ip, now)
    await uow.locks.hold(f"identifier:{identity.identifier}")
    account = await _linked_account(uow, identity, now)
    if account is None:
        account = await _link_or_create(uow, identity, now)
    if account.status is not AccountStatus.ACTIVE:
        await record(account.id, "refused", f"status-{account.status.value}")
        raise AccountDisabled(account.locked_reason)
    if identity.acr == "urn:vn:eid:level2":
        account.verified_in_person = True  # the e-ID checked the card against the person
    account.name = identity.name[:200] or account.name
    account.sign_in_succeeded(now)
    await uow.accounts.save(account)
    acr = identity.assurance
    await record(account.id, "success", "eid", acr.value)
    log.info("signed in through the national e-ID", account_id=account.id, acr=acr.value)
    return SignedIn(
        account_id=account.id, kind=account.kind, acr=acr, amr=identity.portal_amr, auth_time=identity.auth_time,
        agencies=account.agencies, roles=account.roles,
    )  # fmt: skip


async def _refuse(uow: IdentityUnitOfWork, account_id: str, reason: str, identity: EidIdentity, now: datetime) -> None:
    await _audit(uow, account_id, LinkAction.REFUSED, reason, "eid", identity.subject, now)
    log.warning("national e-ID sign-in refused", account_id=account_id, reason=reason)
    raise IdentifierMismatch(
        "This e-ID account and the portal account it would use do not name the same person or organisation."
    )


async def _linked_account(uow: IdentityUnitOfWork, identity: EidIdentity, now: datetime) -> Account | None:
    link = await uow.eid_links.by_subject(identity.subject)
    if link is None:
        return None
    account = await uow.accounts.get(link.account_id, for_update=True)
    if account is None or account.status is AccountStatus.DELETED:
        # The account was closed: its identifiers are gone, and so is the link.
        await uow.eid_links.remove(link.account_id)
        await _audit(uow, link.account_id, LinkAction.UNLINKED, "account-deleted", "eid", identity.subject, now)
        return None
    if not holds_identifier(account.kind, account.personal_id, account.tax_code, identity):
        await _refuse(uow, account.id, "identifier-mismatch", identity, now)
    return account


async def _link_or_create(uow: IdentityUnitOfWork, identity: EidIdentity, now: datetime) -> Account:
    login = LoginKind.PERSONAL_ID if identity.kind is EidKind.CITIZEN else LoginKind.TAX_CODE
    account = await uow.accounts.holding(login, identity.identifier, for_update=True)
    if account is not None:
        if account.kind is not identity.kind.account_kind:
            await _refuse(uow, account.id, "kind-mismatch", identity, now)
        if await uow.eid_links.of_account(account.id) is not None:
            await _refuse(uow, account.id, "linked-to-another-eid", identity, now)
        reason = "existing-account"
    else:
        account = await _create(uow, identity, now)
        reason = "created"
    await uow.eid_links.add(EidLink(account.id, identity.subject, now))
    await _audit(uow, account.id, LinkAction.LINKED, reason, "eid", identity.subject, now)
    log.info("e-ID account linked", account_id=account.id, reason=reason)
    return account


async def _create(uow: IdentityUnitOfWork, identity: EidIdentity, now: datetime) -> Account:
    """A portal account from the e-ID's claims: no password (it signs in through the e-ID)."""
    kind = identity.kind.account_kind
    phone = identity.phone
    try:
        phone = identifiers.phone(phone) if phone else None
    except identifiers.InvalidIdentifier:
        phone = None
    if phone and await uow.accounts.holding(LoginKind.PHONE, phone):
        phone = None  # another account holds the number; this one goes without it
    birth = None
    if identity.birthdate:
        try:
            birth = datetime.strptime(identity.birthdate, "%Y-%m-%d").date()
        except ValueError:
            birth = None
    account = Account(
        id=new_id(), kind=kind, status=AccountStatus.ACTIVE, name=identity.name[:200], password_hash="",
        personal_id=identity.identifier if kind is AccountKind.CITIZEN else None,
        tax_code=identity.identifier if kind is AccountKind.ENTERPRISE else None,
        birth_date=birth, phone=phone, phone_verified=phone is not None, last_activity_at=now, created_at=now,
    )  # fmt: skip
    await uow.accounts.add(account)
    await uow.emit(
        AccountRegistered(account_id=account.id, kind=kind.value, status="active", registered_at=now), key=account.id
    )
    stored = await uow.accounts.get(account.id, for_update=True)
    assert stored is not None
    return stored


async def unlink(uow: IdentityUnitOfWork, account_id: str, *, actor: str, now: datetime) -> None:
    """Remove the account's e-ID link (its holder, or an operator); audited. The account keeps
    its identifiers; its next e-ID sign-in links it again."""
    link = await uow.eid_links.of_account(account_id)
    if link is None or not await uow.eid_links.remove(account_id):
        raise NotLinked("This account is not linked to a national e-ID account.")
    await _audit(uow, account_id, LinkAction.UNLINKED, "requested", actor, link.subject, now)
    log.info("e-ID account unlinked", account_id=account_id, actor=actor.split(":")[0])


async def link_of(uow: IdentityUnitOfWork, account_id: str) -> EidLink | None:
    return await uow.eid_links.of_account(account_id)
