"""A DPoP client key for tests: proofs (RFC 9449 §4.2) signed with joserfc, a JOSE library the
portal does not use, so that what the portal accepts is what another implementation makes."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey


class DpopKey:
    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        self.key = ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)

    @property
    def jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint, as joserfc computes it."""
        return str(self.key.thumbprint())

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A proof for ``method`` ``url``; ``claims`` replace (or, as None, remove) the usual ones."""
        body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            body["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        body.update(claims)
        head = {"alg": self.alg, "typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return jwt.encode(
            {k: v for k, v in head.items() if v is not None}, {k: v for k, v in body.items() if v is not None},
            self.key, algorithms=[self.alg],
        )  # fmt: skip
