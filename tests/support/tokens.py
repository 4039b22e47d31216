"""Access tokens for service tests: a real JWKS endpoint on loopback and tokens signed with
its keys, as the identity service would issue them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jose import jwk

from services.kit.jose import ACCESS_TOKEN_TYPE, sign
from tests.support.servers import serve

ISSUER = "http://issuer.test"


def rsa_jwk(kid: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    private = jwk.construct(pem.decode(), algorithm="RS256").to_dict()
    return {**private, "kid": kid, "alg": "RS256", "use": "sig"}


def public(jwk_: dict) -> dict:
    return {k: jwk_[k] for k in ("kty", "n", "e", "kid", "alg", "use")}


class Keys:
    """A real JWKS endpoint whose published keys a test can change."""

    def __init__(self) -> None:
        self.published: list[dict] = []
        self.fetches = 0
        self.app = FastAPI()

        @self.app.get("/jwks")
        async def jwks() -> dict:
            self.fetches += 1
            return {"keys": [public(k) for k in self.published]}


def token(key: dict, *, scope: str, aud: str, iss: str = ISSUER, exp: int = 300, sub: str = "acct-1",  # type: ignore[no-untyped-def]
          typ: str = ACCESS_TOKEN_TYPE, **extra) -> str:  # fmt: skip
    """An access token (header ``typ`` ``at+jwt``, as the identity service types them)."""
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "sub": sub, "scope": scope, "iat": now, "exp": now + exp, **extra}
    return sign(claims, key, typ=typ)


def bearer(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


@contextmanager
def jwks_server() -> Iterator[tuple[Keys, str]]:
    """Serves one published key (``k1``); yields the keys and the JWKS URL."""
    holder = Keys()
    holder.published.append(rsa_jwk("k1"))
    with serve(holder.app) as url:
        yield holder, f"{url}/jwks"
