"""DPoP (RFC 9449): proofs that the caller holds the private key a token is bound to.

A client signs a short JWT (the *proof*, header ``typ: dpop+jwt`` with its public ``jwk``) for
each request: the method (``htm``), the URL without query (``htu``), when (``iat``), a unique
``jti`` and, sent with an access token, the token's hash (``ath``). A token bound to the key
names the key's RFC 7638 thumbprint in ``cnf.jkt``.

Used by the identity service's token and PAR endpoints (which remember ``jti`` in PostgreSQL)
and by every resource server, the gateway included (:class:`ProofChecker`, whose replay memory
is per process: see :class:`ReplayMemory`). No web framework here: the errors are the kit's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from contracts.json import JwtClaims

from . import jose
from .errors import Unauthorized

PROOF_TYPE = "dpop+jwt"
#: The ``Authorization`` scheme of a DPoP-bound access token (and the ``token_type`` issued).
SCHEME = "DPoP"
ALGORITHMS = jose.DPOP_ALGORITHMS
#: A proof is a few hundred bytes (an RSA-4096 key and signature stay under 3 KiB); longer is refused.
MAX_PROOF_BYTES = 8 * 1024
MAX_JTI_LENGTH = 256
#: A proof is accepted this long after its ``iat`` (RFC 9449 §11.1: a short window) ...
MAX_AGE_SECONDS = 60
#: ... and this far ahead of our clock (skew between the client and us).
MAX_FUTURE_SECONDS = 10
#: Proofs remembered per process, by key and ``jti``, for the replay check.
REPLAY_MEMORY = 100_000
# An RFC 7638 thumbprint: base64url of a SHA-256 digest, 43 characters.
THUMBPRINT = re.compile(r"^[A-Za-z0-9_-]{43}$")
# The members of a public key its thumbprint is made of (RFC 7638 §3.2, RFC 8037 §2).
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


class DpopProofInvalid(Unauthorized):
    """The DPoP proof is missing where it is required, malformed, badly signed, for another
    request, too old, replayed, or made with another key than the token is bound to."""


class DpopTokenMisused(Unauthorized):
    """A token bound to a key (``cnf.jkt``) was sent as a bearer token, or a token bound to no
    key was sent with the DPoP scheme."""


@dataclass(frozen=True, slots=True)
class Proof:
    """A checked proof: the thumbprint of its key, its ``jti`` and ``iat``."""

    jkt: str
    jti: str
    iat: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(key: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK SHA-256 thumbprint of a public key (EC, RSA or OKP)."""
    members = _THUMBPRINT_MEMBERS.get(str(key.get("kty")))
    if members is None or not all(isinstance(key.get(m), str) for m in members):
        raise DpopProofInvalid("The proof's key is not a public EC or RSA key.")
    canonical = json.dumps({m: key[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII (RFC 9449 §4.2)."""
    return _b64(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def target(url: str) -> str:
    """A URL as ``htu`` compares: scheme and host in lower case, no default port, no query or
    fragment (RFC 9449 §4.3 with RFC 3986 §6.2.2-§6.2.3 normalisation)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def check(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    jkt: str | None = None,
) -> Proof:
    """Check one proof for a request to ``method`` ``url`` (the URL as the client reached it,
    at the public origin) at ``now`` (seconds since the epoch): RFC 9449 §4.3 steps 2 to 12.
    With ``access_token``, the proof must carry its hash; with ``jkt``, be signed by that key.
    Replay is the caller's check (the ``jti`` is returned)."""
    if len(proof) > MAX_PROOF_BYTES or not proof.isascii():
        raise DpopProofInvalid(f"The DPoP proof is longer than {MAX_PROOF_BYTES} bytes or not ASCII.")
    try:
        header, claims = jose.verify_self_signed(proof, typ=PROOF_TYPE)
    except jose.TokenInvalid as exc:
        raise DpopProofInvalid(f"The DPoP proof is not valid: {exc}.") from None
    jti, iat = _required(claims, access_token is not None)
    if claims["htm"] != method.upper():
        raise DpopProofInvalid("The DPoP proof is for another HTTP method (htm).")
    if not isinstance(claims["htu"], str) or target(claims["htu"]) != target(url):
        raise DpopProofInvalid("The DPoP proof is for another URL (htu).")
    if iat < now - MAX_AGE_SECONDS or iat > now + MAX_FUTURE_SECONDS:
        raise DpopProofInvalid(
            f"The DPoP proof's iat is more than {MAX_AGE_SECONDS} s old or {MAX_FUTURE_SECONDS} s ahead."
        )
    if access_token is not None and claims["ath"] != token_hash(access_token):
        raise DpopProofInvalid("The DPoP proof is for another access token (ath).")
    key_thumbprint = thumbprint(header["jwk"])
    if jkt is not None and key_thumbprint != jkt:
        raise DpopProofInvalid("The DPoP proof is signed with another key than the token is bound to.")
    return Proof(key_thumbprint, jti, iat)


def _required(claims: JwtClaims, with_token: bool) -> tuple[str, int]:
    names = ("jti", "htm", "htu", "iat", "ath") if with_token else ("jti", "htm", "htu", "iat")
    if missing := [name for name in names if name not in claims]:
        raise DpopProofInvalid(f"The DPoP proof lacks {', '.join(missing)}.")
    jti, iat = claims["jti"], claims["iat"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise DpopProofInvalid(f"The DPoP proof's jti is not text of 1 to {MAX_JTI_LENGTH} characters.")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise DpopProofInvalid("The DPoP proof's iat is not a number.")
    return jti, int(iat)


class ReplayMemory:
    """The proofs seen, by key thumbprint and ``jti``, until their ``iat`` leaves the window.

    Per process and bounded (``size`` entries; past it the oldest is forgotten first). RFC 9449
    §11.1 allows this: a proof names its method, URL and access token and lives
    :data:`MAX_AGE_SECONDS`, so one replayed to another process (another replica, or the service
    behind the gateway that already checked it) can only repeat that same request with that
    same token within that minute. Forgetting needs more than ``size`` distinct proofs a minute
    in one process: far above what the gateway's rate limit lets one caller send."""

    def __init__(self, size: int = REPLAY_MEMORY, window: float = MAX_AGE_SECONDS + MAX_FUTURE_SECONDS):
        self.size = size
        self.window = window
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def first_use(self, proof: Proof, now: float) -> bool:
        """Records ``proof``; False when it was seen before (a replay)."""
        while self._seen:
            oldest, forget_at = next(iter(self._seen.items()))
            if forget_at > now and len(self._seen) < self.size:
                break
            del self._seen[oldest]
        key = hashlib.sha256(f"{proof.jkt}.{proof.jti}".encode()).digest()[:16]
        if key in self._seen:
            return False
        self._seen[key] = max(now, proof.iat) + self.window
        return True


class ProofChecker:
    """A resource server's check of the proof that comes with a DPoP-bound access token:
    :func:`check` against the URL at the public ``origin`` (the issuer: the gateway's public URL,
    which every API path is reached at), then the replay memory."""

    def __init__(self, origin: str, memory: ReplayMemory | None = None):
        self.origin = origin.rstrip("/")
        self.memory = memory or ReplayMemory()

    def check(self, proof: str, *, method: str, path: str, access_token: str, jkt: str) -> Proof:
        now = time.time()
        checked = check(proof, method=method, url=self.origin + path, now=now, access_token=access_token, jkt=jkt)
        if not self.memory.first_use(checked, now):
            raise DpopProofInvalid("The DPoP proof was already used (jti replayed).")
        return checked
