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
    return jose.sign_pem(body, pem, "k1", typ=jose.ACCESS_TOKEN_TYPE)


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


async def test_tokens_visited_in_turn_are_all_remembered_up_to_the_bound(signing, monkeypatch) -> None:
    """Citizens' tokens come round in turn: a memory one short of them keeps none (each new one
    pushes out the oldest, the next to come back), one that holds them all checks each once."""
    pem, public, _, _ = signing
    tokens = [token(pem, sub=f"citizen-{n}") for n in range(40)]
    for remember, checks in ((39, 3 * 40), (40, 40), (0, 3 * 40)):
        calls = counting(monkeypatch)
        verifier = auth.TokenVerifier(KeySet({"k1": public}), issuer=ISSUER, audience="dossier", remember=remember)  # type: ignore[arg-type]
        for _ in range(3):
            for n, t in enumerate(tokens):
                assert (await verifier.verify(t)).subject == f"citizen-{n}"
        assert len(calls) == checks, remember
        assert len(verifier._checked) == min(remember, 40)
        monkeypatch.undo()


def test_the_memory_is_a_setting_of_every_service_and_of_the_gateway(monkeypatch) -> None:
    from gateway.app import _verifiers
    from gateway.settings import GatewaySettings
    from services.kit.settings import ServiceSettings

    monkeypatch.setenv("SERVICE_OIDC_TOKEN_MEMORY", "123")
    assert ServiceSettings().oidc_token_memory == 123
    monkeypatch.setenv("GATEWAY_TOKEN_MEMORY", "77")
    verifiers = _verifiers(GatewaySettings(), None)  # type: ignore[arg-type]
    assert {v.remember for v in verifiers.values()} == {77}
    assert ServiceSettings.model_fields["oidc_token_memory"].default == 20_000
