"""The one module that talks to the JOSE library (python-jose), so it can be swapped.

Always an explicit algorithm allow-list and key objects built from JWKs; never a bare
shared secret for an asymmetric algorithm.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Collection, Mapping
from typing import Any

from jose import jwk, jws, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

from contracts.json import JoseHeader, Jwk, JwtClaims

#: A key object of python-jose (made by :func:`key_from_jwk`): the library ships no types.
Key = Any

ALLOWED_ALGORITHMS = ("RS256",)
# The header ``typ`` of access tokens (RFC 9068 §2.1) and of ID tokens. Resource servers accept
# only the first, so an ID token (or any other JWT this issuer signs) is never an access token.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
ID_TOKEN_TYPE = "JWT"  # noqa: S105 - a media type, not a secret
# OpenID Connect Back-Channel Logout 1.0 §2.4: logout tokens are typed so that no other JWT passes.
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, not a secret
# Claims every token must carry, whoever reads it (RFC 7519 leaves them optional; this portal does not).
REQUIRED_CLAIMS = ("iss", "aud", "exp")


class TokenInvalid(Exception):
    """The token is malformed, badly signed, expired or for someone else."""


def unverified_header(token: str, algorithms: Collection[str] = ALLOWED_ALGORITHMS) -> JoseHeader:
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise TokenInvalid("malformed token") from exc
    if header.get("alg") not in algorithms:
        raise TokenInvalid("token algorithm not allowed")
    return header


def key_from_jwk(data: Jwk) -> Key:
    """A verification key object from one JWK; refuses keys for other algorithms."""
    if data.get("kty") != "RSA" or data.get("alg", "RS256") not in ALLOWED_ALGORITHMS:
        raise TokenInvalid("signing key of an unsupported type")
    if data.get("use", "sig") != "sig":
        raise TokenInvalid("key is not a signing key")
    return jwk.construct(data, algorithm="RS256")


def decode(
    token: str,
    key: Key,
    *,
    issuer: str,
    audience: str | Collection[str],
    typ: str | None = ACCESS_TOKEN_TYPE,
    leeway: int = 30,
    verify_expiry: bool = True,
    algorithms: Collection[str] = ALLOWED_ALGORITHMS,
) -> JwtClaims:
    """Verify the signature and the claims every token must carry and this reader must check:
    ``iss`` (equal to ``issuer``), ``aud`` (naming ``audience``, or one of them), ``exp`` (not
    past, with ``leeway``, unless ``verify_expiry`` is false), ``nbf``/``iat`` when present,
    and the header's ``typ`` when ``typ`` is given. A missing ``iss``, ``aud`` or ``exp`` is
    refused: the library itself skips the audience check when the claim is absent."""
    accepted = (audience,) if isinstance(audience, str) else tuple(audience)
    if not accepted or not issuer:
        raise ValueError("decode needs the expected issuer and at least one audience")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            issuer=issuer,
            options={
                "verify_aud": False,  # checked below: the library skips it when the claim is absent
                "verify_exp": verify_expiry,
                "verify_at_hash": False,
                # RFC 9068 §2.2: an access token carries iat.
                "require_iat": typ == ACCESS_TOKEN_TYPE,
                "leeway": leeway,
            },
        )
    except ExpiredSignatureError as exc:
        raise TokenInvalid("token expired") from exc
    except JWTClaimsError as exc:
        raise TokenInvalid(f"token claims rejected: {exc}") from exc
    except JOSEError as exc:
        raise TokenInvalid("token signature or format invalid") from exc
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise TokenInvalid(f"token claims rejected: no {name} claim")
    if not isinstance(claims["exp"], int | float) or isinstance(claims["exp"], bool):
        raise TokenInvalid("token claims rejected: exp is not a number")
    if not set(_audiences(claims["aud"])) & set(accepted):
        raise TokenInvalid("token claims rejected: not for this audience")
    if typ is not None and not _same_type(header.get("typ"), typ):
        raise TokenInvalid(f"token type is not {typ}")
    return claims


def unverified_claims(token: str) -> JwtClaims:
    """The claims of a token, unverified (to find out who claims to have sent it)."""
    try:
        claims = jwt.get_unverified_claims(token)
    except JOSEError as exc:
        raise TokenInvalid("malformed token") from exc
    if not isinstance(claims, dict):
        raise TokenInvalid("malformed token")
    return claims


def _audiences(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise TokenInvalid("token claims rejected: aud is not a string or a list of strings")
    return values


def _same_type(found: Any, expected: str) -> bool:
    """RFC 9068 §4 / RFC 8725 §3.11: media types compare case-insensitively, with or without
    their ``application/`` prefix."""
    if not isinstance(found, str):
        return False
    return found.lower().removeprefix("application/") == expected.lower().removeprefix("application/")


def sign(claims: Mapping[str, object], private_jwk: Jwk, *, typ: str = "JWT") -> str:
    """Sign with RS256 and a private JWK (its ``kid`` goes into the header). An access token
    needs ``typ=ACCESS_TOKEN_TYPE``: nothing else passes a resource server."""
    key = jwk.construct(private_jwk, algorithm="RS256")
    return jwt.encode(
        dict(claims), key.to_pem().decode(), algorithm="RS256", headers={"kid": private_jwk["kid"], "typ": typ}
    )


@functools.lru_cache(maxsize=16)
def _private_key(private_pem: bytes) -> Any:
    # Parsing a PEM RSA key checks the key's consistency: about 30 ms of CPU here, against
    # 0.25 ms for the signature itself. Keys change only on rotation; a few are kept parsed.
    return jwk.construct(private_pem.decode(), algorithm="RS256")


def sign_pem(claims: Mapping[str, object], private_pem: bytes, kid: str | None, *, typ: str = "JWT") -> str:
    """Sign with RS256 and a PEM private key (parsed once per key; ``kid`` in the header unless
    ``None``). An access token needs ``typ=ACCESS_TOKEN_TYPE``: nothing else passes a resource server."""
    headers = {"kid": kid, "typ": typ} if kid is not None else {"typ": typ}
    return jwt.encode(dict(claims), _private_key(private_pem), algorithm="RS256", headers=headers)


def generate_rsa(bits: int, kid: str) -> tuple[bytes, Jwk]:
    """A new RSA signing key: (PKCS#8 PEM of the private key, public JWK)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, public_jwk(pem, kid)


def public_jwk(private_pem: bytes, kid: str) -> Jwk:
    """The public JWK of a PEM private RSA key (to check what it signs)."""
    public = _private_key(private_pem).public_key().to_dict()
    return {"kty": "RSA", "n": public["n"], "e": public["e"], "kid": kid, "alg": "RS256", "use": "sig"}


#: What clients may sign their assertions (private_key_jwt) with: RS256, and ES256 (which the
#: FAPI 2.0 Security Profile allows, where it does not allow RS256).
CLIENT_ASSERTION_ALGORITHMS = ("RS256", "ES256")


def client_key_from_jwk(data: Jwk) -> tuple[Key, str]:
    """A client's public key for its assertions, and the one algorithm it verifies: an RSA key
    RS256, an EC P-256 key ES256. Other keys, and keys not for signing, are refused."""
    if data.get("use", "sig") != "sig" or _PRIVATE_MEMBERS & data.keys():
        raise TokenInvalid("client key is not a public signing key")
    if data.get("kty") == "RSA":
        return key_from_jwk(data), "RS256"
    if data.get("kty") == "EC" and data.get("crv") == "P-256" and data.get("alg", "ES256") == "ES256":
        try:
            return jwk.construct(data, algorithm="ES256"), "ES256"
        except (JOSEError, ValueError, TypeError) as exc:
            raise TokenInvalid("client key is not a valid EC key") from exc
    raise TokenInvalid("client key of an unsupported type")


def decode_assertion(
    token: str, key: Key, *, client_id: str, audiences: tuple[str, ...], leeway: int, algorithm: str = "RS256"
) -> JwtClaims:
    """A client assertion (RFC 7523 §3): signed with ``algorithm`` (that of the client's key),
    ``iss`` = the client, ``aud`` one of ``audiences``, ``exp`` present and not past (with
    ``leeway``). Any ``typ`` header."""
    return decode(token, key, issuer=client_id, audience=audiences, typ=None, leeway=leeway, algorithms=(algorithm,))


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of the SHA-256 of the access token, base64url."""
    import base64
    import hashlib

    half = hashlib.sha256(access_token.encode("ascii")).digest()[:16]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")


# --- DPoP proofs (RFC 9449) -------------------------------------------------------------------

#: What a DPoP proof may be signed with: the asymmetric algorithms python-jose verifies (it has
#: no PS256 nor EdDSA). ES256 is the one FAPI 2.0 also names.
DPOP_ALGORITHMS = ("ES256", "RS256")
_DPOP_KEY_TYPES = {"ES256": ("EC", "P-256"), "RS256": ("RSA", None)}
# Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_MODULUS_BITS = 2048


def verify_self_signed(token: str, *, typ: str) -> tuple[JoseHeader, JwtClaims]:
    """A JWS that carries its own public key in its ``jwk`` header (a DPoP proof): the header
    ``typ`` is ``typ``, ``alg`` is one of :data:`DPOP_ALGORITHMS` and matches the key's type,
    the key is public (no private member) and the signature verifies with it. Returns the
    header and the claims (a JSON object); the caller checks what the claims mean."""
    try:
        header = jws.get_unverified_header(token)
    except JOSEError as exc:
        raise TokenInvalid("malformed proof") from exc
    if not _same_type(header.get("typ"), typ):
        raise TokenInvalid(f"proof type is not {typ}")
    alg, key = header.get("alg"), header.get("jwk")
    if alg not in DPOP_ALGORITHMS:
        raise TokenInvalid("proof algorithm not allowed")
    if not isinstance(key, dict) or _PRIVATE_MEMBERS & key.keys():
        raise TokenInvalid("proof has no public jwk, or a private one")
    kty, crv = _DPOP_KEY_TYPES[alg]
    if key.get("kty") != kty or (crv is not None and key.get("crv") != crv):
        raise TokenInvalid("proof key does not fit its algorithm")
    try:
        if kty == "RSA" and _modulus_bits(key) < _MIN_RSA_MODULUS_BITS:
            raise TokenInvalid("proof RSA key is too short")
        payload = jws.verify(token, jwk.construct(key, algorithm=alg), algorithms=[alg])
        claims = json.loads(payload)
    except (JOSEError, ValueError, TypeError) as exc:
        raise TokenInvalid("proof signature or format invalid") from exc
    if not isinstance(claims, dict):
        raise TokenInvalid("proof claims are not a JSON object")
    return header, claims


def _modulus_bits(key: Jwk) -> int:
    n = key.get("n")
    if not isinstance(n, str):
        raise TokenInvalid("proof RSA key has no modulus")
    raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    return int.from_bytes(raw, "big").bit_length()
