"""Every token read through the kit must carry ``iss``, ``aud`` and ``exp`` and have them
checked (python-jose alone skips the audience check when the claim is absent); resource
servers take only tokens typed ``at+jwt`` (RFC 9068). Unit tests on a real RSA key."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.kit import auth, jose
from services.kit.errors import Unauthorized

ISSUER = "https://portal.test"
AT = jose.ACCESS_TOKEN_TYPE


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, Any]:
    pem, public = jose.generate_rsa(2048, "k1")
    return pem, jose.key_from_jwk(public)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": ["dossier", "identity"], "sub": "citizen-1", "scope": "dossier:read",
            "iat": now, "exp": now + 300, **changes}  # fmt: skip
    return {k: v for k, v in body.items() if v is not None}


class KeySet:
    def __init__(self, key: Any):
        self._key = key

    async def key(self, kid: str | None) -> Any:
        return self._key


@pytest.mark.parametrize("missing", ["aud", "iss", "exp"])
def test_a_token_without_aud_iss_or_exp_is_refused(keys, missing: str) -> None:
    pem, public = keys
    token = jose.sign_pem(claims(**{missing: None}), pem, "k1", typ=AT)
    with pytest.raises(jose.TokenInvalid, match=f"no {missing} claim|Invalid issuer"):
        jose.decode(token, public, issuer=ISSUER, audience="dossier")


@pytest.mark.parametrize("missing", ["aud", "iss", "exp"])
async def test_a_resource_server_answers_401_for_a_token_without_aud_iss_or_exp(keys, missing: str) -> None:
    pem, public = keys
    verifier = auth.TokenVerifier(KeySet(public), issuer=ISSUER, audience="dossier")  # type: ignore[arg-type]
    assert (await verifier.verify(jose.sign_pem(claims(), pem, "k1", typ=AT))).subject == "citizen-1"
    with pytest.raises(Unauthorized):
        await verifier.verify(jose.sign_pem(claims(**{missing: None}), pem, "k1", typ=AT))


@pytest.mark.parametrize("aud", [[], "", 7, ["dossier", 7], {"dossier": 1}])
def test_an_audience_of_the_wrong_shape_is_refused(keys, aud: Any) -> None:
    pem, public = keys
    with pytest.raises(jose.TokenInvalid):
        jose.decode(jose.sign_pem(claims(aud=aud), pem, "k1", typ=AT), public, issuer=ISSUER, audience="dossier")


def test_an_audience_is_matched_among_those_accepted(keys) -> None:
    pem, public = keys
    token = jose.sign_pem(claims(aud="payment"), pem, "k1", typ=AT)
    assert jose.decode(token, public, issuer=ISSUER, audience=("dossier", "payment"))["aud"] == "payment"
    with pytest.raises(jose.TokenInvalid, match="audience"):
        jose.decode(token, public, issuer=ISSUER, audience=("dossier", "sync"))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "id_token", "at+jwt+x"])
def test_only_an_at_jwt_typed_token_is_an_access_token(keys, typ: str) -> None:
    pem, public = keys
    token = jose.sign_pem(claims(), pem, "k1", typ=typ)
    with pytest.raises(jose.TokenInvalid, match="type"):
        jose.decode(token, public, issuer=ISSUER, audience="dossier")


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_the_access_token_type_is_compared_as_a_media_type(keys, typ: str) -> None:
    pem, public = keys
    token = jose.sign_pem(claims(), pem, "k1", typ=typ)
    assert jose.decode(token, public, issuer=ISSUER, audience="dossier")["sub"] == "citizen-1"


async def test_an_id_token_signed_with_the_same_key_is_refused_by_a_resource_server(keys) -> None:
    pem, public = keys
    id_token = jose.sign_pem(claims(aud="dossier"), pem, "k1", typ=jose.ID_TOKEN_TYPE)
    verifier = auth.TokenVerifier(KeySet(public), issuer=ISSUER, audience="dossier")  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="type"):
        await verifier.verify(id_token)


def test_a_client_assertion_needs_aud_iss_and_exp_too(keys) -> None:
    pem, public = keys
    now = int(time.time())
    good = {"iss": "ministry", "sub": "ministry", "aud": ISSUER + "/oauth2/token", "jti": "j", "exp": now + 60}
    read = lambda body: jose.decode_assertion(  # noqa: E731
        jose.sign_pem(body, pem, "k1", typ=jose.ID_TOKEN_TYPE), public, client_id="ministry",
        audiences=(ISSUER, ISSUER + "/oauth2/token"), leeway=30,
    )  # fmt: skip
    assert read(good)["sub"] == "ministry"
    for missing in ("aud", "iss", "exp"):
        with pytest.raises(jose.TokenInvalid):
            read({k: v for k, v in good.items() if k != missing})
    with pytest.raises(jose.TokenInvalid):
        read({**good, "iss": "someone-else"})
