"""DPoP proofs (RFC 9449 §4.3) as the kit checks them, on real keys, against proofs another JOSE
library (joserfc) signs: what passes, each rule that refuses, and the replay memory's bounds."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.jwk import OctKey

from services.kit import dpop
from tests.support.dpop import DpopKey

URL = "https://portal.test/api/v1/identity/me"
TOKEN = "an.access.token"


@pytest.fixture(scope="module")
def key() -> DpopKey:
    return DpopKey("ES256")


def check(proof: str, **changes: Any) -> dpop.Proof:
    kwargs: dict[str, Any] = {"method": "GET", "url": URL, "now": time.time(), "access_token": TOKEN, **changes}
    return dpop.check(proof, **kwargs)


def test_the_rfc_7638_example_key_has_the_rfc_thumbprint() -> None:
    # RFC 7638 §3.1's example RSA key and its thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
        "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu"
        "6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
        "awapJzKnqDKgw"
    )
    assert dpop.thumbprint({"kty": "RSA", "e": "AQAB", "n": n, "alg": "RS256", "kid": "2011-04-29"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_proof_for_this_request_passes_and_names_its_key(alg: str) -> None:
    signer = DpopKey(alg)
    proof = check(signer.proof("GET", URL + "?page=2#top", TOKEN), jkt=signer.jkt)
    assert proof.jkt == signer.jkt == dpop.thumbprint(signer.jwk)
    assert proof.jti and abs(proof.iat - time.time()) < 5


def test_the_url_compares_without_query_default_port_or_case() -> None:
    assert dpop.target("HTTPS://Portal.Test:443/api/v1/identity/me?x=1") == URL
    assert dpop.target("http://127.0.0.1:80/oauth2/token") == "http://127.0.0.1/oauth2/token"
    assert dpop.target("http://127.0.0.1:8000/a") != dpop.target("http://127.0.0.1:8001/a")
    assert dpop.target("http://[::1]:bad/") == ""


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def _refusals(key: DpopKey) -> dict[str, str]:
    now = int(time.time())
    other = DpopKey("ES256")
    hmac_key = OctKey.generate_key(256)
    private = {**key.key.as_dict(private=True)}
    return {
        "another method": key.proof("POST", URL, TOKEN),
        "another URL": key.proof("GET", "https://portal.test/api/v1/dossier/dossiers", TOKEN),
        "another host": key.proof("GET", "https://evil.test/api/v1/identity/me", TOKEN),
        "another token": key.proof("GET", URL, "another.access.token"),
        "no ath": key.proof("GET", URL),
        "no jti": key.proof("GET", URL, TOKEN, jti=None),
        "an empty jti": key.proof("GET", URL, TOKEN, jti=""),
        "a jti too long": key.proof("GET", URL, TOKEN, jti="j" * (dpop.MAX_JTI_LENGTH + 1)),
        "no iat": key.proof("GET", URL, TOKEN, iat=None),
        "iat as text": key.proof("GET", URL, TOKEN, iat=str(now)),
        "too old": key.proof("GET", URL, TOKEN, iat=now - dpop.MAX_AGE_SECONDS - 5),
        "from the future": key.proof("GET", URL, TOKEN, iat=now + dpop.MAX_FUTURE_SECONDS + 5),
        "no htu": key.proof("GET", URL, TOKEN, htu=None),
        "htu not text": key.proof("GET", URL, TOKEN, htu=["x"]),
        "typ JWT": key.proof("GET", URL, TOKEN, header={"typ": "JWT"}),
        "no typ": key.proof("GET", URL, TOKEN, header={"typ": None}),
        "no jwk": key.proof("GET", URL, TOKEN, header={"jwk": None}),
        "a private jwk": key.proof("GET", URL, TOKEN, header={"jwk": private}),
        "another key's jwk": key.proof("GET", URL, TOKEN, header={"jwk": other.jwk}),
        "alg none": _unsigned({"alg": "none", "typ": "dpop+jwt", "jwk": key.jwk},
                              {"jti": "x", "htm": "GET", "htu": URL, "iat": now}),
        "alg HS256": jws.serialize_compact({"alg": "HS256", "typ": "dpop+jwt", "jwk": key.jwk},
                                           json.dumps({"jti": "x", "htm": "GET", "htu": URL, "iat": now}),
                                           hmac_key, algorithms=["HS256"]),
        "not a JWT": "not-a-jwt",
        "too long": key.proof("GET", URL, TOKEN, padding="x" * dpop.MAX_PROOF_BYTES),
        "not ASCII": key.proof("GET", URL, TOKEN) + "é",
    }  # fmt: skip


def test_each_rule_of_rfc_9449_refuses_a_proof(key: DpopKey) -> None:
    accepted = []
    for name, proof in _refusals(key).items():
        try:
            check(proof, jkt=key.jkt)
        except dpop.DpopProofInvalid:
            continue
        accepted.append(name)
    assert accepted == []


def test_a_proof_by_another_key_than_the_token_is_bound_to_is_refused(key: DpopKey) -> None:
    with pytest.raises(dpop.DpopProofInvalid, match="another key"):
        check(DpopKey().proof("GET", URL, TOKEN), jkt=key.jkt)


@pytest.mark.filterwarnings("ignore:Key size")
def test_a_short_rsa_key_is_refused() -> None:
    from joserfc.jwk import RSAKey

    short = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - the point
    signer = DpopKey("RS256")
    signer.key = short
    with pytest.raises(dpop.DpopProofInvalid, match="too short"):
        check(signer.proof("GET", URL, TOKEN))


def test_the_replay_memory_refuses_a_second_use_and_stays_bounded(key: DpopKey) -> None:
    memory = dpop.ReplayMemory(size=3, window=70)
    now = time.time()
    first = dpop.Proof(key.jkt, "j1", int(now))
    assert memory.first_use(first, now)
    assert not memory.first_use(first, now + 1)
    assert memory.first_use(dpop.Proof("another-key", "j1", int(now)), now)  # a jti is per key
    for i in range(5):
        assert memory.first_use(dpop.Proof(key.jkt, f"more{i}", int(now)), now)
    assert len(memory._seen) == 3  # the oldest were forgotten first
    # Past its window a proof is forgotten: by then check() refuses its iat anyway.
    later = dpop.ReplayMemory(size=10, window=70)
    assert later.first_use(first, now)
    assert later.first_use(dpop.Proof(key.jkt, "other", int(now) + 71), now + 71)
    assert len(later._seen) == 1


def test_the_checker_of_a_resource_server_refuses_a_replayed_proof(key: DpopKey) -> None:
    checker = dpop.ProofChecker("https://portal.test/")
    proof = key.proof("GET", URL, TOKEN)
    checker.check(proof, method="GET", path="/api/v1/identity/me", access_token=TOKEN, jkt=key.jkt)
    with pytest.raises(dpop.DpopProofInvalid, match="already used"):
        checker.check(proof, method="GET", path="/api/v1/identity/me", access_token=TOKEN, jkt=key.jkt)
