"""The token endpoint's grants, and what the other endpoints need of tokens: userinfo,
introspection (RFC 7662), revocation (RFC 7009)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.kit import jose, pseudonyms
from services.kit.db import UnitOfWork
from services.kit.ids import new_id

from ..adapters import accounts as accounts_repo
from ..adapters.oauth import (
    authorization_codes,
    digest,
    issued_access_tokens,
    new_secret,
    refresh_tokens,
    revoked_access_tokens,
)
from ..domain.oauth import (
    SERVICE_AUDIENCES,
    GrantType,
    OAuthError,
    RefreshOutcome,
    audience,
    grant,
    parse_scope,
    refresh_outcome,
    unknown_scopes,
    verify_pkce,
)
from ..settings import IdentitySettings
from .accounts import account_is_active
from .clients import Client
from .keys import signer, verification_key


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


async def _applicant_key(
    uow: UnitOfWork, settings: IdentitySettings, account_id: str, scopes: tuple[str, ...]
) -> str | None:
    """The pseudonym of the person's identification number or the enterprise's tax code, for
    tokens meant for the dossier service (it finds the dossiers filed for them elsewhere)."""
    if not any(scope.startswith("dossier:") for scope in scopes):
        return None
    row = await accounts_repo.get_row(uow.connection, account_id)
    identifier = (row["personal_id"] or row["tax_code"]) if row is not None else None
    if not identifier:
        return None
    return pseudonyms.applicant_key(settings.applicant_key_secret.get_secret_value(), identifier)


async def _access_token(
    uow: UnitOfWork,
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
) -> tuple[str, str]:
    jti = uuid.uuid4().hex
    expires = now + timedelta(seconds=settings.access_token_seconds)
    claims: dict[str, Any] = {
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
    if agencies:
        claims["agencies"] = list(agencies)
    if applicant_key:
        claims[pseudonyms.CLAIM] = applicant_key
    await uow.connection.execute(
        insert(issued_access_tokens).values(jti=jti, code_hash=code_hash, family_id=family_id, expires_at=expires)
    )
    token = (await signer(uow, settings, now)).access_token(claims)
    return token, jti


async def client_credentials(
    uow: UnitOfWork, settings: IdentitySettings, client: Client, requested: str | None, now: datetime
) -> dict[str, Any]:
    if GrantType.CLIENT_CREDENTIALS not in client.grant_types:
        raise OAuthError("unauthorized_client", "This client may not use client_credentials.")
    scopes = parse_scope(requested) or tuple(sorted(client.allowed_scopes))
    refused = [s for s in scopes if s not in client.allowed_scopes]
    if refused:
        raise OAuthError("invalid_scope", f"Scopes not allowed for this client: {' '.join(refused)}.")
    token, _ = await _access_token(
        uow, settings, now, client=client, subject=client.client_id, scopes=scopes, acr=None, agencies=client.agencies
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": settings.access_token_seconds,
        "scope": " ".join(scopes),
    }


async def exchange_code(
    uow: UnitOfWork, settings: IdentitySettings, client: Client, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Redeem an authorization code once. A second redemption revokes what the first issued."""
    code = form.get("code") or ""
    code_hash = digest(code)
    row = (
        await uow.connection.execute(
            update(authorization_codes)
            .where(authorization_codes.c.code_hash == code_hash, authorization_codes.c.consumed_at.is_(None))
            .values(consumed_at=now)
            .returning(authorization_codes)
        )
    ).first()
    if row is None:
        if await uow.connection.scalar(
            select(authorization_codes.c.code_hash).where(authorization_codes.c.code_hash == code_hash)
        ):
            await revoke_issued_from_code(uow, code_hash, now)
            # Commit the revocation even though the request is refused.
            await uow.commit()
            await uow.connection.begin()
        raise OAuthError("invalid_grant", "The authorization code is invalid, expired or already used.")
    if row.client_id != client.client_id or row.expires_at <= now:
        raise OAuthError("invalid_grant", "The authorization code is invalid, expired or already used.")
    if form.get("redirect_uri") != row.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the one of the authorization request.")
    verify_pkce(row.code_challenge, form.get("code_verifier"))
    scopes = parse_scope(row.scope)
    return await _user_tokens(
        uow, settings, now, client, row, scopes, nonce=row.nonce, code_hash=code_hash, family_id=new_id()
    )


async def _user_tokens(
    uow: UnitOfWork,
    settings: IdentitySettings,
    now: datetime,
    client: Client,
    signed_in: Any,
    scopes: tuple[str, ...],
    *,
    nonce: str | None,
    code_hash: str | None,
    family_id: str,
) -> dict[str, Any]:
    """Access, ID and refresh tokens for a person. ``signed_in`` is the authorization code or
    refresh token row: it carries who signed in and how (account, acr, amr, auth_time, agencies)."""
    account_id, acr, auth_time = signed_in.account_id, signed_in.acr, signed_in.auth_time
    amr, agencies = tuple(signed_in.amr), tuple(signed_in.agencies)
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
        applicant_key=await _applicant_key(uow, settings, account_id, scopes),
    )
    answer: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": settings.access_token_seconds,
        "scope": " ".join(scopes),
    }
    if "openid" in scopes:
        id_claims: dict[str, Any] = {
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
        answer["id_token"] = (await signer(uow, settings, now)).id_token(id_claims)
    if GrantType.REFRESH_TOKEN in client.grant_types:
        refresh = new_secret()
        await uow.connection.execute(
            insert(refresh_tokens).values(
                token_hash=digest(refresh),
                family_id=family_id,
                client_id=client.client_id,
                account_id=account_id,
                scope=" ".join(scopes),
                acr=acr,
                amr=list(amr),
                auth_time=auth_time,
                agencies=list(agencies),
                code_hash=code_hash,
                expires_at=now + timedelta(days=settings.refresh_token_days),
            )
        )
        answer["refresh_token"] = refresh
    return answer


async def refresh(
    uow: UnitOfWork, settings: IdentitySettings, client: Client, form: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Rotate: each refresh token works once. A replay after the grace window revokes the family."""
    if GrantType.REFRESH_TOKEN not in client.grant_types:
        raise OAuthError("unauthorized_client", "This client may not use refresh tokens.")
    token_hash = digest(form.get("refresh_token") or "")
    row = (
        await uow.connection.execute(
            select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update()
        )
    ).first()
    invalid = OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    if row is None or row.client_id != client.client_id or row.revoked_at is not None or row.expires_at <= now:
        raise invalid
    outcome = refresh_outcome(row.used_at, now, timedelta(seconds=settings.refresh_grace_seconds))
    if outcome is RefreshOutcome.REUSED:
        await revoke_family(uow, row.family_id, now)
        await uow.commit()
        await uow.connection.begin()
        raise OAuthError("invalid_grant", "The refresh token was already used; its sessions are revoked.")
    if not await account_is_active(uow, row.account_id):
        raise invalid
    if outcome is RefreshOutcome.ROTATE:
        await uow.connection.execute(
            update(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).values(used_at=now)
        )
    scopes = parse_scope(row.scope)
    narrowed = parse_scope(form.get("scope"))
    if narrowed:
        if unknown_scopes(narrowed) or any(s not in scopes for s in narrowed):
            raise OAuthError("invalid_scope", "A refresh may only narrow the granted scopes.")
        scopes = grant(narrowed, frozenset(scopes))
    return await _user_tokens(
        uow, settings, now, client, row, scopes, nonce=None, code_hash=row.code_hash, family_id=row.family_id
    )


async def revoke_family(uow: UnitOfWork, family_id: str, now: datetime) -> None:
    await _revoke_issued(uow, "family_id", family_id, now)


async def revoke_issued_from_code(uow: UnitOfWork, code_hash: str, now: datetime) -> None:
    await _revoke_issued(uow, "code_hash", code_hash, now)


async def _revoke_issued(uow: UnitOfWork, column: str, value: str, now: datetime) -> None:
    """Revoke the refresh tokens and access tokens whose ``column`` (a family or the code they
    came from; both tables record both) is ``value``."""
    await uow.connection.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c[column] == value, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await _deny_access_tokens(uow, issued_access_tokens.c[column] == value)


async def _deny_access_tokens(uow: UnitOfWork, condition: Any) -> None:
    issued = select(issued_access_tokens.c.jti, issued_access_tokens.c.expires_at).where(condition)
    await uow.connection.execute(
        pg_insert(revoked_access_tokens).from_select(["jti", "expires_at"], issued).on_conflict_do_nothing()
    )


async def verify_access_token(uow: UnitOfWork, settings: IdentitySettings, token: str, now: datetime) -> dict[str, Any]:
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
    if await uow.connection.scalar(
        select(revoked_access_tokens.c.jti).where(revoked_access_tokens.c.jti == claims.get("jti"))
    ):
        raise OAuthError("invalid_token", "The access token was revoked.")
    return claims


async def introspect(
    uow: UnitOfWork, settings: IdentitySettings, caller: Client, token: str, now: datetime
) -> dict[str, Any]:
    """RFC 7662, restricted: a client learns only about tokens issued to it or meant for it."""
    try:
        claims = await verify_access_token(uow, settings, token, now)
    except OAuthError:
        return await _introspect_refresh(uow, caller, token, now)
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if caller.client_id != claims["client_id"] and caller.client_id not in aud:
        return {"active": False}
    keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "acr", "agencies")
    return {"active": True, "token_type": "access_token", **{k: claims[k] for k in keep if k in claims}}


async def _introspect_refresh(uow: UnitOfWork, caller: Client, token: str, now: datetime) -> dict[str, Any]:
    row = (
        await uow.connection.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == digest(token)))
    ).first()
    if row is None or row.client_id != caller.client_id or row.revoked_at is not None or row.expires_at <= now:
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


async def revoke(uow: UnitOfWork, settings: IdentitySettings, caller: Client, token: str, now: datetime) -> None:
    """RFC 7009: revoke a refresh token (its family) or an access token of the calling client.
    An unknown, invalid or expired token is answered 200 (§2.2: nothing to revoke); a valid token
    issued to another client is refused with ``unauthorized_client`` (§2.1) and left alone."""
    row = (
        await uow.connection.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == digest(token)))
    ).first()
    if row is not None:
        if row.client_id != caller.client_id:
            raise _not_yours()
        await revoke_family(uow, row.family_id, now)
        return
    try:
        claims = await verify_access_token(uow, settings, token, now)
    except OAuthError:
        return
    if claims.get("client_id") != caller.client_id:
        raise _not_yours()
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
    await uow.connection.execute(
        pg_insert(revoked_access_tokens).values(jti=claims["jti"], expires_at=expires).on_conflict_do_nothing()
    )


def _not_yours() -> OAuthError:
    return OAuthError("unauthorized_client", "This token was not issued to the client asking to revoke it.")
