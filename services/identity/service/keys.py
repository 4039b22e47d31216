"""Signing keys: created, published ahead of use, used, retired; and the JWKS."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.events.identity_oidc import SigningKeyRotated
from contracts.json import JwtClaims as JwtClaims  # the claims of a token we sign; the use cases name it from here
from services.kit.crypto import fernet
from services.kit.jose import (
    ACCESS_TOKEN_TYPE,
    ID_TOKEN_TYPE,
    LOGOUT_TOKEN_TYPE,
    generate_rsa,
    key_from_jwk,
    sign_pem,
)

from ..domain.oauth import JsonWebKeySet, SigningKey, published_kids, signing_kid
from ..settings import IdentitySettings
from .unit_of_work import IdentityUnitOfWork


@dataclass(frozen=True)
class Signer:
    kid: str
    private_pem: bytes

    def access_token(self, claims: JwtClaims) -> str:
        """Typed ``at+jwt`` (RFC 9068): resource servers take nothing else as an access token."""
        return sign_pem(claims, self.private_pem, self.kid, typ=ACCESS_TOKEN_TYPE)

    def id_token(self, claims: JwtClaims) -> str:
        return sign_pem(claims, self.private_pem, self.kid, typ=ID_TOKEN_TYPE)

    def logout_token(self, claims: JwtClaims) -> str:
        """Typed ``logout+jwt`` (Back-Channel Logout §2.4)."""
        return sign_pem(claims, self.private_pem, self.kid, typ=LOGOUT_TOKEN_TYPE)


def longest_token(settings: IdentitySettings) -> timedelta:
    """How long a signature must stay verifiable after its key stops signing."""
    return timedelta(seconds=max(settings.access_token_seconds, settings.id_token_seconds) + 60)


async def create_key(uow: IdentityUnitOfWork, settings: IdentitySettings, activates_at: datetime) -> str:
    kid = f"{activates_at:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    pem, public = generate_rsa(settings.signing_key_bits, kid)
    encrypted = fernet(settings.key_encryption_key.get_secret_value()).encrypt(pem)
    await uow.signing_keys.add(SigningKey(kid, encrypted, public, activates_at))
    await uow.emit(SigningKeyRotated(kid=kid, activates_at=activates_at), key=kid)
    return kid


async def ensure_signing_key(uow: IdentityUnitOfWork, settings: IdentitySettings, now: datetime) -> None:
    """A first key, active at once, when there is none (a new installation). Replicas starting
    together serialise on a lock so only one key is made."""
    await uow.locks.hold("identity-signing-keys")
    if signing_kid([key.times for key in await uow.signing_keys.all()], now) is None:
        await create_key(uow, settings, now)


async def rotate(uow: IdentityUnitOfWork, settings: IdentitySettings, now: datetime) -> str:
    """Publish a new key now; it starts signing after ``key_publish_ahead_seconds``, when every
    verifier has refreshed its JWKS. The old key stays published until its tokens expire."""
    return await create_key(uow, settings, now + timedelta(seconds=settings.key_publish_ahead_seconds))


async def signer(uow: IdentityUnitOfWork, settings: IdentitySettings, now: datetime) -> Signer:
    """The key that signs at ``now``, from the keys this process read lately (a key is published
    ``key_publish_ahead_seconds`` before it signs, so a read a few seconds old knows it)."""
    keys = await uow.signing_keys.recent()
    kid = signing_kid([key.times for key in keys], now)
    if kid is None:
        raise RuntimeError("no signing key: run the identity migrations and start the service once")
    key = next(k for k in keys if k.kid == kid)
    return Signer(kid, _decrypted(key.private_key, settings.key_encryption_key.get_secret_value()))


@functools.lru_cache(maxsize=8)
def _decrypted(encrypted: bytes, key_encryption_key: str) -> bytes:
    # A key signs for months and is decrypted once per process (the PEM is parsed once too, by the
    # kit's signer), not once per token.
    return fernet(key_encryption_key).decrypt(encrypted)


async def jwks(uow: IdentityUnitOfWork, settings: IdentitySettings, now: datetime) -> JsonWebKeySet:
    keys = await uow.signing_keys.all()
    kids = published_kids([key.times for key in keys], now, longest_token(settings))
    by_kid = {key.kid: key.public_jwk for key in keys}
    return {"keys": [by_kid[k] for k in kids]}


async def verification_key(uow: IdentityUnitOfWork, settings: IdentitySettings, kid: str | None, now: datetime) -> Any:
    """The key object for a token's ``kid`` among the published ones, or None (the JOSE
    library's key type, untyped)."""
    for item in (await jwks(uow, settings, now))["keys"]:
        if item["kid"] == kid:
            return key_from_jwk(item)
    return None
