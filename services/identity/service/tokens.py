"""The token endpoint's grants, and what the other endpoints need of tokens: userinfo,
introspection (RFC 7662), revocation (RFC 7009)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.kit import dpop, jose, pseudonyms
from services.kit.ids import new_id

from ..adapters.oauth import digest, new_secret
from ..domain.oauth import (
    SERVICE_AUDIENCES,
    Client,
    ClientKind,
    GrantType,
    OAuthError,
    RefreshOutcome,
    RefreshToken,
    SignInRecord,
    audience,
    grant,
    parse_scope,
    refresh_outcome,
    unknown_scopes,
    verify_pkce,
)
from ..settings import IdentitySettings
from . import backchannel, mandates
from .accounts import account_is_active
from .keys import JwtClaims, signer, verification_key
from .unit_of_work import IdentityUnitOfWork

# An introspection answer (RFC 7662 §2.2): ``active`` and, for an active token, claims copied
# from it; a JSON object by definition open to the token's claims.
Introspection = JwtClaims


@dataclass(frozen=True, slots=True)
class Tokens:
    """A token response (RFC 6749 §5.1, OIDC Core §3.1.3.3)."""

    access_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a password
    id_token: str | None = None
    refresh_token: str | None = None


# The enterprise a person acts for under a mandate (``docs/mandates.md``): its account id, tax code,
# the mandate's id and roles. ``sub`` stays the person who acts.
ENTITY_CLAIM = "entity"


async def _entity(uow: IdentityUnitOfWork, mandate_id: str) -> tuple[JwtClaims, str | None]:
    """The ``entity`` claim of a live mandate, and the enterprise's tax code; ``invalid_grant``
    once the mandate is revoked (its tokens are revoked with it; this closes the race)."""
    found = await mandates.live(uow, mandate_id)
    if found is None:
        raise OAuthError("invalid_grant", "The mandate this grant acts under is revoked.")
    mandate, enterprise = found
    claim: JwtClaims = {"account_id": enterprise.id, "tax_code": enterprise.tax_code or "", "mandate_id": mandate.id,
                        "roles": list(mandate.roles)}  # fmt: skip
    return claim, enterprise.tax_code


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


async def _applicant_key(
    uow: IdentityUnitOfWork, settings: IdentitySettings, signed_in: SignInRecord, scopes: tuple[str, ...]
) -> str | None:
    """The pseudonym of the person's identification number or the enterprise's tax code, for
    tokens meant for the dossier service (it finds the dossiers filed for them elsewhere). None
    when acting under a mandate: the enterprise's is taken with the mandate (``_entity``)."""
    if not _for_dossiers(scopes) or signed_in.mandate_id is not None:
        return None
    account = await uow.accounts.get(signed_in.account_id)
    return _pseudonym(settings, (account.personal_id or account.tax_code) if account is not None else None)


def _for_dossiers(scopes: tuple[str, ...]) -> bool:
    return any(scope.startswith("dossier:") for scope in scopes)


def _pseudonym(settings: IdentitySettings, identifier: str | None) -> str | None:
    if not identifier:
        return None
    return pseudonyms.applicant_key(settings.applicant_key_secret.get_secret_value(), identifier)


async def _access_token(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    now: datetime,
    *,
    client: Client,
    subject: str,
    scopes: tuple[str, ...],
    acr: str | None,
    agencies: tuple[str, ...],
    code_hash: str | None = None,
    family_id: str | None = None,
    applicant_key: str | None = None,
    jkt: str | None = None,
    auth_time: datetime | None = None,
    entity: JwtClaims | None = None,
) -> tuple[str, str]:
    jti = uuid.uuid4().hex
    expires = now + timedelta(seconds=settings.access_token_seconds)
    claims: JwtClaims = {
        "iss": settings.oidc_issuer,
        "sub": subject,
        "aud": audience(scopes, client.client_id),
        "client_id": client.client_id,
        "scope": " ".join(scopes),
        "iat": _ts(now),
        "nbf": _ts(now),
        "exp": _ts(expires),
        "jti": jti,
    }
    if acr:
        claims["acr"] = acr
    if auth_time is not None:  # a person's sign-in: services judge its age (RFC 9470 max_age)
        claims["auth_time"] = _ts(auth_time)
    if agencies:
        claims["agencies"] = list(agencies)
    if applicant_key:
        claims[pseudonyms.CLAIM] = applicant_key
    if jkt:
        claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1: bound to the client's DPoP key
    if entity is not None:
        claims[ENTITY_CLAIM] = entity
    await uow.tokens.add_access(jti, code_hash, family_id, expires)
    token = (await signer(uow, settings, now)).access_token(claims)
    return token, jti


def _token_type(jkt: str | None) -> str:
    """RFC 9449 §5: ``DPoP`` for a token bound to a key, else ``Bearer``."""
    return dpop.SCHEME if jkt else "Bearer"


async def client_credentials(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    client: Client,
    requested: str | None,
    now: datetime,
    *,
    jkt: str | None = None,
) -> Tokens:
    if GrantType.CLIENT_CREDENTIALS not in client.grant_types:
        raise OAuthError("unauthorized_client", "This client may not use client_credentials.")
    scopes = parse_scope(requested) or tuple(sorted(client.allowed_scopes))
    refused = [s for s in scopes if s not in client.allowed_scopes]
    if refused:
        raise OAuthError("invalid_scope", f"Scopes not allowed for this client: {' '.join(refused)}.")
    token, _ = await _access_token(
        uow, settings, now, client=client, subject=client.client_id, scopes=scopes, acr=None,
        agencies=client.agencies, jkt=jkt,
    )  # fmt: skip
    return Tokens(
        access_token=token, expires_in=settings.access_token_seconds, scope=" ".join(scopes),
        token_type=_token_type(jkt),
    )  # fmt: skip


async def exchange_code(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    client: Client,
    form: Mapping[str, str],
    now: datetime,
    *,
    jkt: str | None = None,
) -> Tokens:
    """Redeem an authorization code once. A second redemption revokes what the first issued
    (and raises: the token endpoint's unit of work commits the revocation even so, as it
    commits whatever a refused request recorded)."""
    code = form.get("code") or ""
    code_hash = digest(code)
    row = await uow.authorization_codes.consume(code_hash, now)
    if row is None:
        if await uow.authorization_codes.exists(code_hash):
            await uow.tokens.revoke_from_code(code_hash, now)
        raise OAuthError("invalid_grant", "The authorization code is invalid, expired or already used.")
    if row.client_id != client.client_id or row.expires_at <= now:
        raise OAuthError("invalid_grant", "The authorization code is invalid, expired or already used.")
    if form.get("redirect_uri") != row.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the one of the authorization request.")
    verify_pkce(row.code_challenge, form.get("code_verifier"))
    if row.dpop_jkt is not None and row.dpop_jkt != jkt:
        raise OAuthError("invalid_grant", "The code is bound to a DPoP key (dpop_jkt) the proof was not made with.")
    scopes = parse_scope(row.scope)
    await backchannel.remember_client(uow, settings, client, row, now)
    applicant_key = await _applicant_key(uow, settings, row, scopes)
    return await _user_tokens(uow, settings, now, client, row, scopes, nonce=row.nonce, code_hash=code_hash,
                              family_id=new_id(), applicant_key=applicant_key, jkt=jkt,
                              refresh_jkt=jkt if client.kind is ClientKind.PUBLIC else None)  # fmt: skip


async def _user_tokens(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    now: datetime,
    client: Client,
    signed_in: SignInRecord,
    scopes: tuple[str, ...],
    *,
    nonce: str | None,
    code_hash: str | None,
    family_id: str,
    applicant_key: str | None,
    successor: str | None = None,
    jkt: str | None = None,
    refresh_jkt: str | None = None,
) -> Tokens:
    """Access, ID and refresh tokens for a person. ``signed_in`` is the authorization code or
    refresh token row: it carries who signed in and how (account, acr, amr, auth_time, agencies).
    ``successor``: a refresh token already stored (a rotation's), given instead of a new one."""
    account_id, acr, auth_time = signed_in.account_id, signed_in.acr, signed_in.auth_time
    amr, agencies = tuple(signed_in.amr), tuple(signed_in.agencies)
    entity = None
    if signed_in.mandate_id is not None:  # acting for an enterprise: its dossiers, its pseudonym
        entity, tax_code = await _entity(uow, signed_in.mandate_id)
        applicant_key = _pseudonym(settings, tax_code) if _for_dossiers(scopes) else None
    access, _ = await _access_token(
        uow,
        settings,
        now,
        client=client,
        subject=account_id,
        scopes=scopes,
        acr=acr,
        agencies=agencies,
        code_hash=code_hash,
        family_id=family_id,
        applicant_key=applicant_key,
        jkt=jkt,
        auth_time=auth_time,
        entity=entity,
    )
    id_token = refresh = None
    if "openid" in scopes:
        id_claims: JwtClaims = {
            "iss": settings.oidc_issuer,
            "sub": account_id,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": _ts(now),
            "exp": _ts(now + timedelta(seconds=settings.id_token_seconds)),
            "auth_time": _ts(auth_time),
            "acr": acr,
            "amr": list(amr),
            "at_hash": jose.at_hash(access),
        }
        if nonce:
            id_claims["nonce"] = nonce
        if signed_in.sid:
            id_claims["sid"] = signed_in.sid
        if entity is not None:
            id_claims[ENTITY_CLAIM] = entity
        id_token = (await signer(uow, settings, now)).id_token(id_claims)
    if successor is not None:
        refresh = successor
    elif GrantType.REFRESH_TOKEN in client.grant_types:
        refresh = new_secret()
        await uow.tokens.add_refresh(
            RefreshToken(
                token_hash=digest(refresh), family_id=family_id, client_id=client.client_id, account_id=account_id,
                scope=" ".join(scopes), acr=acr, amr=amr, auth_time=auth_time, agencies=agencies,
                code_hash=code_hash, expires_at=now + timedelta(days=settings.refresh_token_days),
                sid=signed_in.sid, dpop_jkt=refresh_jkt, mandate_id=signed_in.mandate_id,
            )
        )  # fmt: skip
    return Tokens(
        access_token=access, expires_in=settings.access_token_seconds, scope=" ".join(scopes), id_token=id_token,
        refresh_token=refresh, token_type=_token_type(jkt),
    )  # fmt: skip


async def refresh(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    client: Client,
    form: Mapping[str, str],
    now: datetime,
    *,
    jkt: str | None = None,
) -> Tokens:
    """Rotate: each refresh token works once. A replay after the grace window revokes the family.
    A refresh token bound to a DPoP key (a public client's) needs a proof made with that key."""
    if GrantType.REFRESH_TOKEN not in client.grant_types:
        raise OAuthError("unauthorized_client", "This client may not use refresh tokens.")
    token_hash = digest(form.get("refresh_token") or "")
    if not form.get("scope"):
        # The usual case in one statement: the token spent (unused, this client's, its account
        # active, bound to no DPoP key or to the proof's) and its successor stored (bound alike).
        successor = new_secret()
        expires = now + timedelta(days=settings.refresh_token_days)
        rotated = await uow.tokens.rotate_refresh(token_hash, digest(successor), client.client_id, jkt, now, expires)
        if rotated is not None:
            stored, identifier = rotated
            scopes = parse_scope(stored.scope)
            applicant_key = _pseudonym(settings, identifier) if _for_dossiers(scopes) else None
            return await _user_tokens(uow, settings, now, client, stored, scopes, nonce=None,
                                      code_hash=stored.code_hash, family_id=stored.family_id,
                                      applicant_key=applicant_key, successor=successor, jkt=jkt)  # fmt: skip
    # Otherwise: unknown, someone else's, revoked, expired, used before, its account inactive, or
    # the scope narrowed.
    row = await uow.tokens.refresh(token_hash, for_update=True)
    invalid = OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    if row is None or not row.usable_by(client.client_id, now):
        raise invalid
    if row.dpop_jkt is not None and row.dpop_jkt != jkt:
        raise OAuthError("invalid_grant", "The refresh token is bound to a DPoP key the proof was not made with.")
    outcome = refresh_outcome(row.used_at, now, timedelta(seconds=settings.refresh_grace_seconds))
    if outcome is RefreshOutcome.REUSED:
        # Raised after the revocation: the endpoint's unit of work commits it all the same.
        await uow.tokens.revoke_family(row.family_id, now)
        raise OAuthError("invalid_grant", "The refresh token was already used; its sessions are revoked.")
    if not await account_is_active(uow, row.account_id):
        raise invalid
    if outcome is RefreshOutcome.ROTATE:
        await uow.tokens.mark_used(token_hash, now)
    scopes = parse_scope(row.scope)
    narrowed = parse_scope(form.get("scope"))
    if narrowed:
        if unknown_scopes(narrowed) or any(s not in scopes for s in narrowed):
            raise OAuthError("invalid_scope", "A refresh may only narrow the granted scopes.")
        scopes = grant(narrowed, frozenset(scopes))
    applicant_key = await _applicant_key(uow, settings, row, scopes)
    return await _user_tokens(uow, settings, now, client, row, scopes, nonce=None, code_hash=row.code_hash,
                              family_id=row.family_id, applicant_key=applicant_key, jkt=jkt,
                              refresh_jkt=row.dpop_jkt)  # fmt: skip


async def verify_access_token(
    uow: IdentityUnitOfWork, settings: IdentitySettings, token: str, now: datetime
) -> JwtClaims:
    """Our own access token (typed ``at+jwt``): signature by a published key, issuer, expiry,
    an audience this issuer gives (a service of the portal, or the client itself), not revoked."""
    try:
        header = jose.unverified_header(token)
        key = await verification_key(uow, settings, header.get("kid"), now)
        if key is None:
            raise jose.TokenInvalid("token signed with an unknown key")
        named_client = jose.unverified_claims(token).get("client_id")
        audiences = (*SERVICE_AUDIENCES, *([named_client] if isinstance(named_client, str) else []))
        claims = jose.decode(token, key, issuer=settings.oidc_issuer, audience=audiences)
    except jose.TokenInvalid as exc:
        raise OAuthError("invalid_token", str(exc)) from exc
    if "client_id" not in claims or "scope" not in claims:
        raise OAuthError("invalid_token", "Not an access token.")
    if await uow.tokens.access_revoked(str(claims.get("jti"))):
        raise OAuthError("invalid_token", "The access token was revoked.")
    return claims


async def introspect(
    uow: IdentityUnitOfWork, settings: IdentitySettings, caller: Client, token: str, now: datetime
) -> Introspection:
    """RFC 7662, restricted: a client learns only about tokens issued to it or meant for it."""
    try:
        claims = await verify_access_token(uow, settings, token, now)
    except OAuthError:
        return await _introspect_refresh(uow, caller, token, now)
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if caller.client_id != claims["client_id"] and caller.client_id not in aud:
        return {"active": False}
    keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "acr", "auth_time", "agencies",
            "cnf", ENTITY_CLAIM)  # fmt: skip
    return {"active": True, "token_type": "access_token", **{k: claims[k] for k in keep if k in claims}}


async def _introspect_refresh(uow: IdentityUnitOfWork, caller: Client, token: str, now: datetime) -> Introspection:
    row = await uow.tokens.refresh(digest(token))
    if row is None or not row.usable_by(caller.client_id, now):
        return {"active": False}
    if row.used_at is not None:
        return {"active": False}
    return {
        "active": True,
        "token_type": "refresh_token",
        "client_id": row.client_id,
        "sub": row.account_id,
        "scope": row.scope,
        "exp": _ts(row.expires_at),
    }


async def revoke(
    uow: IdentityUnitOfWork, settings: IdentitySettings, caller: Client, token: str, now: datetime
) -> None:
    """RFC 7009: revoke a refresh token (its family) or an access token of the calling client.
    An unknown, invalid or expired token is answered 200 (§2.2: nothing to revoke); a valid token
    issued to another client is refused with ``unauthorized_client`` (§2.1) and left alone."""
    row = await uow.tokens.refresh(digest(token))
    if row is not None:
        if row.client_id != caller.client_id:
            raise _not_yours()
        await uow.tokens.revoke_family(row.family_id, now)
        return
    try:
        claims = await verify_access_token(uow, settings, token, now)
    except OAuthError:
        return
    if claims.get("client_id") != caller.client_id:
        raise _not_yours()
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
    await uow.tokens.revoke_access(str(claims["jti"]), expires)


def _not_yours() -> OAuthError:
    return OAuthError("unauthorized_client", "This token was not issued to the client asking to revoke it.")
