"""A verifier remembers the tokens it has checked, but never past their expiry nor past the key
that signed them (a unit test: the issuer's key set is a stand-in)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.kit import auth, jose
from services.kit.errors import Unauthorized

ISSUER = "https://portal.test"


class KeySet:
    """Stands in for the JWKS cache: the keys by id, changeable by the test."""

    def __init__(self, keys: dict[str, Any]):
        self.keys = keys

    async def key(self, kid: str | None) -> Any:
        try:
            return self.keys[kid]
        except KeyError:
            raise jose.TokenInvalid("token signed with an unknown key") from None


@pytest.fixture(scope="module")
def signing() -> tuple[bytes, Any, bytes, Any]:
    pem, public = jose.generate_rsa(2048, "k1")
    other_pem, other_public = jose.generate_rsa(2048, "k1")  # same id, another key (a rotation gone wrong)
    return pem, jose.key_from_jwk(public), other_pem, jose.key_from_jwk(other_public)


def token(pem: bytes, lifetime: int = 300, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "dossier", "sub": "citizen-1", "scope": "dossier:read", "iat": now,
            "exp": now + lifetime, **claims}  # fmt: skip
    return jose.sign_pem(body, pem, "k1")


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = jose.decode

    def decode(token: str, key: Any, **kw: Any) -> dict[str, Any]:
        calls.append(token)
        return real(token, key, **kw)

    monkeypatch.setattr(auth.jose, "decode", decode)
    return calls


async def test_a_token_is_checked_once_then_remembered(signing, monkeypatch: pytest.MonkeyPatch) -> None:
    pem, public, _, _ = signing
    calls = counting(monkeypatch)
    verifier = auth.TokenVerifier(KeySet({"k1": public}), issuer=ISSUER, audience="dossier")  # type: ignore[arg-type]
    first, second = token(pem), token(pem, sub="citizen-2")
    for _ in range(3):
        assert (await verifier.verify(first)).subject == "citizen-1"
    assert (await verifier.verify(second)).subject == "citizen-2"
    assert calls == [first, second]


async def test_a_remembered_token_still_expires(signing, monkeypatch: pytest.MonkeyPatch) -> None:
    pem, public, _, _ = signing
    verifier = auth.TokenVerifier(KeySet({"k1": public}), issuer=ISSUER, audience="dossier")  # type: ignore[arg-type]
    short = token(pem, lifetime=60)
    await verifier.verify(short)
    later = time.time() + 60 + auth.LEEWAY_SECONDS + 1
    monkeypatch.setattr(auth.time, "time", lambda: later)
    monkeypatch.setattr("jose.jwt.timegm", lambda _: int(later))  # the library's clock, likewise moved on
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(short)


async def test_a_token_is_checked_again_when_its_key_is_replaced_or_withdrawn(signing) -> None:
    pem, public, _, other_public = signing
    keys = KeySet({"k1": public})
    verifier = auth.TokenVerifier(keys, issuer=ISSUER, audience="dossier")  # type: ignore[arg-type]
    held = token(pem)
    await verifier.verify(held)
    keys.keys = {"k1": other_public}
    with pytest.raises(Unauthorized, match="signature"):
        await verifier.verify(held)
    keys.keys = {}
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(held)


async def test_memory_is_bounded_and_a_bad_token_is_never_remembered(signing) -> None:
    pem, public, other_pem, _ = signing
    verifier = auth.TokenVerifier(KeySet({"k1": public}), issuer=ISSUER, audience="dossier", remember=2)  # type: ignore[arg-type]
    for n in range(5):
        await verifier.verify(token(pem, sub=f"citizen-{n}"))
    assert len(verifier._checked) == 2
    forged = token(other_pem)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await verifier.verify(forged)
    assert forged not in verifier._checked
    with pytest.raises(Unauthorized, match="claims"):
        await verifier.verify(token(pem, aud="payment"))
