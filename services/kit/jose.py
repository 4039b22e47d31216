"""The one module that talks to the JOSE library (python-jose), so it can be swapped.

Always an explicit algorithm allow-list and key objects built from JWKs; never a bare
shared secret for an asymmetric algorithm.
"""

from __future__ import annotations

import functools
from typing import Any

from jose import jwk, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

ALLOWED_ALGORITHMS = ("RS256",)


class TokenInvalid(Exception):
    """The token is malformed, badly signed, expired or for someone else."""


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise TokenInvalid("malformed token") from exc
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise TokenInvalid("token algorithm not allowed")
    return header


def key_from_jwk(data: dict[str, Any]) -> Any:
    """A verification key object from one JWK; refuses keys for other algorithms."""
    if data.get("kty") != "RSA" or data.get("alg", "RS256") not in ALLOWED_ALGORITHMS:
        raise TokenInvalid("signing key of an unsupported type")
    if data.get("use", "sig") != "sig":
        raise TokenInvalid("key is not a signing key")
    return jwk.construct(data, algorithm="RS256")


def decode(token: str, key: Any, *, issuer: str, audience: str | None, leeway: int = 30) -> dict[str, Any]:
    """Verify signature, ``iss``, ``aud`` (when given), ``exp``/``nbf``/``iat``; return the claims."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=list(ALLOWED_ALGORITHMS),
            issuer=issuer,
            audience=audience,
            options={"verify_aud": audience is not None, "require_exp": True, "require_iat": True, "leeway": leeway},
        )
    except ExpiredSignatureError as exc:
        raise TokenInvalid("token expired") from exc
    except JWTClaimsError as exc:
        raise TokenInvalid(f"token claims rejected: {exc}") from exc
    except JOSEError as exc:
        raise TokenInvalid("token signature or format invalid") from exc


def sign(claims: dict[str, Any], private_jwk: dict[str, Any]) -> str:
    """Sign with RS256 and a private JWK (its ``kid`` goes into the header)."""
    key = jwk.construct(private_jwk, algorithm="RS256")
    return jwt.encode(claims, key.to_pem().decode(), algorithm="RS256", headers={"kid": private_jwk["kid"]})


@functools.lru_cache(maxsize=16)
def _private_key(private_pem: bytes) -> Any:
    # Parsing a PEM RSA key checks the key's consistency: about 30 ms of CPU here, against
    # 0.25 ms for the signature itself. Keys change only on rotation; a few are kept parsed.
    return jwk.construct(private_pem.decode(), algorithm="RS256")


def sign_pem(claims: dict[str, Any], private_pem: bytes, kid: str) -> str:
    """Sign with RS256 and a PEM private key (parsed once per key)."""
    return jwt.encode(claims, _private_key(private_pem), algorithm="RS256", headers={"kid": kid, "typ": "JWT"})


def generate_rsa(bits: int, kid: str) -> tuple[bytes, dict[str, Any]]:
    """A new RSA signing key: (PKCS#8 PEM of the private key, public JWK)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = jwk.construct(public_pem.decode(), algorithm="RS256").to_dict()
    return pem, {"kty": "RSA", "n": public["n"], "e": public["e"], "kid": kid, "alg": "RS256", "use": "sig"}


def decode_assertion(token: str, key: Any, *, audiences: tuple[str, ...], leeway: int) -> dict[str, Any]:
    """A client assertion (RFC 7523): signature, one of ``audiences``, expiry with ``leeway``."""
    last: Exception | None = None
    for aud in audiences:
        try:
            return jwt.decode(
                token, key, algorithms=list(ALLOWED_ALGORITHMS), audience=aud,
                options={"require_exp": True, "leeway": leeway},
            )  # fmt: skip
        except JWTClaimsError as exc:
            last = exc
        except JOSEError as exc:
            raise TokenInvalid("assertion signature, format or expiry invalid") from exc
    raise TokenInvalid(f"assertion audience rejected: {last}")


def decode_ignoring_expiry(token: str, key: Any, *, issuer: str) -> dict[str, Any]:
    """Verify signature and issuer but not expiry nor audience (``id_token_hint`` at logout)."""
    try:
        return jwt.decode(
            token, key, algorithms=list(ALLOWED_ALGORITHMS), issuer=issuer,
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_at_hash": False},
        )  # fmt: skip
    except JOSEError as exc:
        raise TokenInvalid("token signature or format invalid") from exc


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of the SHA-256 of the access token, base64url."""
    import base64
    import hashlib

    half = hashlib.sha256(access_token.encode("ascii")).digest()[:16]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")
