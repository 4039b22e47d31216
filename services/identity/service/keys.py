"""Signing keys: created, published ahead of use, used, retired; and the JWKS."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from contracts.events.identity_oidc import SigningKeyRotated
from services.kit.crypto import fernet
from services.kit.db import Database, UnitOfWork
from services.kit.jose import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, generate_rsa, key_from_jwk, sign_pem

from ..adapters.oauth import signing_keys
from ..domain.oauth import KeyTimes, published_kids, signing_kid
from ..settings import IdentitySettings

KEY_ROTATED = SigningKeyRotated.TYPE


@dataclass(frozen=True)
class Signer:
    kid: str
    private_pem: bytes

    def access_token(self, claims: dict[str, Any]) -> str:
        """Typed ``at+jwt`` (RFC 9068): resource servers take nothing else as an access token."""
        return sign_pem(claims, self.private_pem, self.kid, typ=ACCESS_TOKEN_TYPE)

    def id_token(self, claims: dict[str, Any]) -> str:
        return sign_pem(claims, self.private_pem, self.kid, typ=ID_TOKEN_TYPE)


def longest_token(settings: IdentitySettings) -> timedelta:
    """How long a signature must stay verifiable after its key stops signing."""
    return timedelta(seconds=max(settings.access_token_seconds, settings.id_token_seconds) + 60)


async def _all_keys(uow: UnitOfWork) -> list[Any]:
    return list((await uow.connection.execute(select(signing_keys))).all())


async def create_key(uow: UnitOfWork, settings: IdentitySettings, activates_at: datetime) -> str:
    kid = f"{activates_at:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    pem, public = generate_rsa(settings.signing_key_bits, kid)
    encrypted = fernet(settings.key_encryption_key.get_secret_value()).encrypt(pem)
    await uow.connection.execute(
        insert(signing_keys).values(kid=kid, private_key=encrypted, public_jwk=public, activates_at=activates_at)
    )
    await uow.emit(SigningKeyRotated(kid=kid, activates_at=activates_at), key=kid)
    return kid


async def ensure_signing_key(uow: UnitOfWork, settings: IdentitySettings, now: datetime) -> None:
    """A first key, active at once, when there is none (a new installation)."""
    if signing_kid([KeyTimes(r.kid, r.activates_at) for r in await _all_keys(uow)], now) is None:
        await create_key(uow, settings, now)


async def rotate(uow: UnitOfWork, settings: IdentitySettings, now: datetime) -> str:
    """Publish a new key now; it starts signing after ``key_publish_ahead_seconds``, when every
    verifier has refreshed its JWKS. The old key stays published until its tokens expire."""
    return await create_key(uow, settings, now + timedelta(seconds=settings.key_publish_ahead_seconds))


async def signer(uow: UnitOfWork, settings: IdentitySettings, now: datetime) -> Signer:
    rows = await _all_keys(uow)
    kid = signing_kid([KeyTimes(r.kid, r.activates_at) for r in rows], now)
    if kid is None:
        raise RuntimeError("no signing key: run the identity migrations and start the service once")
    row = next(r for r in rows if r.kid == kid)
    return Signer(kid, fernet(settings.key_encryption_key.get_secret_value()).decrypt(row.private_key))


async def jwks(uow: UnitOfWork, settings: IdentitySettings, now: datetime) -> dict[str, Any]:
    rows = await _all_keys(uow)
    kids = published_kids([KeyTimes(r.kid, r.activates_at) for r in rows], now, longest_token(settings))
    by_kid = {r.kid: r.public_jwk for r in rows}
    return {"keys": [by_kid[k] for k in kids]}


async def verification_key(uow: UnitOfWork, settings: IdentitySettings, kid: str | None, now: datetime) -> Any:
    """The key object for a token's ``kid`` among the published ones, or None."""
    for item in (await jwks(uow, settings, now))["keys"]:
        if item["kid"] == kid:
            return key_from_jwk(item)
    return None


async def ensure_signing_key_at_start(db: Database, settings: IdentitySettings) -> None:
    """On start-up: make the first key if there is none. Replicas starting together serialise
    on an advisory lock so only one key is made."""
    async with db.transaction() as uow:
        await uow.connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('identity-signing-keys'))"))
        await ensure_signing_key(uow, settings, datetime.now(UTC))
