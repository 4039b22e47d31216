"""The one module that talks to the JOSE library (python-jose), so it can be swapped.

Always an explicit algorithm allow-list and key objects built from JWKs; never a bare
shared secret for an asymmetric algorithm.
"""

from __future__ import annotations

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
