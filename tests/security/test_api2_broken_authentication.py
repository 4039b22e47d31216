"""OWASP API2:2023 Broken Authentication, through the gateway (and, for tokens, straight at a
service too: each service checks tokens itself, the gateway only rejects early).

Forged and misused tokens: no algorithm, HS256 keyed with the issuer's public key, another
issuer, another audience, expired, not yet valid, a tampered payload, an unknown key, a stranger's
key under a known key id, missing expiry. Real tokens from the identity service: a province's
client-credentials token is worth nothing at the dossier service; a refresh token used twice
revokes its family; an authorization code works once. Sign-in guessing: the account locks after
five failures (429 with Retry-After), and an address that fails too often is throttled.

The provider's own tests (tests/identity/oidc, tests/identity/accounts) cover these rules in
depth against the identity service; here they are asserted end to end through the gateway.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, hmac
from jose import jwk

from services.identity.service.clients import DEMO_PROVINCE_SECRET
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD
from tests.security.conftest import WEB_CLIENT, forwarded, register_citizen, sign_in, submit_sign_in
from tests.support.stack import PRINCIPALS, Stack
from tests.support.tokens import rsa_jwk
from tests.support.tokens import token as signed_token

pytestmark = pytest.mark.integration

PROTECTED = "/api/v1/dossier/dossiers"  # any route that needs a dossier token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(signature)


def claims_for(stack: Stack, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    citizen = PRINCIPALS["citizen_a"]
    return {"iss": stack.issuer, "aud": list(citizen.aud), "sub": citizen.sub, "scope": citizen.scope,
            "iat": now, "exp": now + 300, **changes}  # fmt: skip


def forgeries(stack: Stack) -> dict[str, str]:
    key = stack.key
    public_pem = jwk.construct({k: key[k] for k in ("kty", "n", "e")}, algorithm="RS256").to_pem()
    claims = claims_for(stack)
    mac = hmac.HMAC(public_pem, hashes.SHA256())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key["kid"]}).encode()) + "."
    head += b64(json.dumps(claims).encode())
    mac.update(head.encode())
    good = stack.mint(PRINCIPALS["citizen_a"])
    h, p, s = good.split(".")
    tampered_claims = {**json.loads(base64.urlsafe_b64decode(p + "==")), "sub": PRINCIPALS["citizen_b"].sub}
    stranger = {**rsa_jwk(key["kid"])}  # a key nobody published, under the published key's id
    now = int(time.time())
    sign = lambda **c: signed_token(key, **{**_token_args(stack), **c})  # noqa: E731
    return {
        "alg none": compact({"alg": "none", "typ": "JWT", "kid": key["kid"]}, claims),
        "alg None": compact({"alg": "None", "kid": key["kid"]}, claims),
        "HS256 keyed with the public key": head + "." + b64(mac.finalize()),
        "another issuer": sign(iss="https://attacker.example"),
        "another audience": sign(aud="sync"),
        "expired": signed_token(key, **{**_token_args(stack), "exp": -120}),
        "not valid yet": sign(nbf=now + 600),
        "tampered payload": f"{h}.{b64(json.dumps(tampered_claims).encode())}.{s}",
        "signature of another token": f"{h}.{p}.{stack.mint(PRINCIPALS['citizen_b']).split('.')[2]}",
        "unknown key id": signed_token({**key, "kid": "nobody"}, **_token_args(stack)),
        "a stranger's key under a known id": signed_token(stranger, **_token_args(stack)),
        "no expiry": _without(stack, "exp"),
        "no audience": _without(stack, "aud"),
        "no issuer": _without(stack, "iss"),
        "an ID token (typ JWT), not an access token": sign(typ="JWT"),
        "no type": _untyped(stack),
        "garbage": "not.a.token",
    }


def _token_args(stack: Stack) -> dict[str, Any]:
    citizen = PRINCIPALS["citizen_a"]
    return {"scope": citizen.scope, "aud": list(citizen.aud), "iss": stack.issuer, "sub": citizen.sub}


def _untyped(stack: Stack) -> str:
    from services.kit.jose import sign

    return sign(claims_for(stack), stack.key, typ="")


def _without(stack: Stack, claim: str) -> str:
    from services.kit.jose import sign

    claims = {k: v for k, v in claims_for(stack).items() if k != claim}
    return sign(claims, stack.key, typ="at+jwt")


def test_forged_and_misdirected_tokens_are_refused_by_the_gateway_and_by_the_service(stack: Stack) -> None:
    with httpx.Client(timeout=30) as client:
        good = {"Authorization": f"Bearer {stack.token('citizen_a')}"}
        for base in (stack.url, stack.direct["dossier"]):
            assert client.get(base + PROTECTED, headers=good).status_code == 200, base
        for name, forged in forgeries(stack).items():
            for where, base in (("gateway", stack.url), ("dossier service", stack.direct["dossier"])):
                answer = client.get(base + PROTECTED, headers={"Authorization": f"Bearer {forged}"})
                assert answer.status_code == 401, f"{name} at the {where}: {answer.status_code} {answer.text[:200]}"
                assert answer.headers["content-type"] == "application/problem+json", name
                assert answer.headers["www-authenticate"].startswith("Bearer"), name


def test_a_real_token_for_another_service_is_worth_nothing_here(stack: Stack) -> None:
    """The identity service's own client-credentials token (audience ``sync``) at the dossier
    and payment services, through the gateway and straight at them."""
    with stack.client() as api:
        issued = api.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=("demo-province", DEMO_PROVINCE_SECRET))  # fmt: skip
        assert issued.status_code == 200, issued.text
        province = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        assert api.get("/api/v1/sync/feed", headers=province).status_code == 200  # it is a real token
        for path in (PROTECTED, "/api/v1/payment/orders/00000000-0000-4000-8000-000000000009"):
            assert api.get(path, headers=province).status_code == 401, path
        direct = httpx.get(stack.direct["dossier"] + PROTECTED, headers=province, timeout=30)
        assert direct.status_code == 401
        wrong_secret = api.post("/oauth2/token", data={"grant_type": "client_credentials"},
                                auth=("demo-province", DEMO_PROVINCE_SECRET + "x"))  # fmt: skip
    assert wrong_secret.status_code == 401 and "access_token" not in wrong_secret.text


def test_a_refresh_token_used_twice_revokes_its_family(stack: Stack) -> None:
    tokens = sign_in(stack, CITIZEN_LOGIN, CITIZEN_PASSWORD, ip="192.0.2.21")
    with stack.client() as api:
        refresh = {"grant_type": "refresh_token", "client_id": WEB_CLIENT}
        first = api.post("/oauth2/token", data={**refresh, "refresh_token": tokens["refresh_token"]})
        assert first.status_code == 200, first.text
        time.sleep(1.5)  # past the grace window for concurrent refreshes (1 s in the stack)
        reused = api.post("/oauth2/token", data={**refresh, "refresh_token": tokens["refresh_token"]})
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant", reused.text
        # The reuse betrays a stolen token: the legitimate successor is dead too.
        successor = api.post("/oauth2/token", data={**refresh, "refresh_token": first.json()["refresh_token"]})
        assert successor.status_code == 400 and successor.json()["error"] == "invalid_grant", successor.text
        # A code works once.
        again = api.post("/oauth2/token", data={"grant_type": "authorization_code", "code": tokens["code"],
                         "redirect_uri": "http://127.0.0.1:8765/callback", "code_verifier": tokens["code_verifier"],
                         "client_id": WEB_CLIENT})  # fmt: skip
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text


def test_guessing_a_password_locks_the_account_with_retry_after(stack: Stack) -> None:
    person = register_citizen(stack, 201)
    from tests.security.conftest import pkce_pair

    _, challenge = pkce_pair()
    with stack.client(follow_redirects=False) as browser:
        statuses = []
        for attempt in range(5):  # each guess from another address: the account's own limit
            wrong = submit_sign_in(browser, person.login, f"Wrong-Guess-{attempt}!", ip=f"192.0.2.{40 + attempt}",
                                   challenge=challenge)  # fmt: skip
            statuses.append(wrong.status_code)
        locked = submit_sign_in(browser, person.login, person.password, ip="192.0.2.50", challenge=challenge)
    assert statuses[:4] == [401] * 4 and statuses[4] in (401, 429), statuses
    # Even the right password is refused while locked, and the answer says when to come back.
    assert locked.status_code == 429, locked.text[:300]
    assert int(locked.headers["retry-after"]) > 0
    assert "code=" not in locked.headers.get("location", "")
    # Someone else signs in as usual meanwhile.
    other = register_citizen(stack, 202)
    assert sign_in(stack, other.login, other.password, ip="192.0.2.51")["access_token"]


def test_an_address_that_keeps_failing_is_throttled_for_everyone_it_tries(stack: Stack) -> None:
    from tests.security.conftest import pkce_pair

    settings = stack.settings["identity"]
    victim = register_citizen(stack, 203)
    _, challenge = pkce_pair()
    ip = "192.0.2.99"
    with stack.client(follow_redirects=False) as browser:
        for n in range(settings.sign_in_ip_max_failures):  # type: ignore[attr-defined]
            submit_sign_in(browser, f"0792010{n:05d}", "Not-The-Password-1!", ip=ip, challenge=challenge)
        throttled = submit_sign_in(browser, victim.login, victim.password, ip=ip, challenge=challenge)
    assert throttled.status_code == 429, throttled.text[:300]
    assert int(throttled.headers["retry-after"]) > 0
    # The same account from an address with no history is fine: the throttle is the address's.
    assert sign_in(stack, victim.login, victim.password, ip="192.0.2.98")["access_token"]


def test_signing_in_is_not_possible_without_the_csrf_cookie(stack: Stack) -> None:
    """The form posted without the cookie its page set (a cross-site request forging a sign-in,
    or a script replaying a form) is refused, the right password notwithstanding."""
    from tests.identity.oidc.conftest import read_form
    from tests.security.conftest import pkce_pair

    _, challenge = pkce_pair()
    params = {"client_id": WEB_CLIENT, "redirect_uri": "http://127.0.0.1:8765/callback", "response_type": "code",
              "scope": "openid", "state": "s", "nonce": "n", "code_challenge": challenge,
              "code_challenge_method": "S256"}  # fmt: skip
    with stack.client() as browser:
        form = read_form(browser.get("/oauth2/authorize", params=params).text).fields
    with httpx.Client(base_url=stack.url, follow_redirects=False, timeout=30) as stranger:
        forged = stranger.post("/oauth2/authorize", data={**form, "login": CITIZEN_LOGIN, "password": CITIZEN_PASSWORD},
                               headers=forwarded("192.0.2.61"))  # fmt: skip
    assert forged.status_code == 400 and "code=" not in forged.headers.get("location", "")


def test_private_key_material_is_never_published(stack: Stack) -> None:
    with stack.client() as api:
        for path in ("/oauth2/jwks", "/api/v1/payment/jwks"):
            keys = api.get(path).json()["keys"]
            assert keys, path
            for key in keys:
                assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key), (path, key.get("kid"))
                assert key["kty"] == "RSA" and key.get("alg", "RS256") == "RS256"
                assert len(base64.urlsafe_b64decode(key["n"] + "==")) >= 256, (path, key["kid"])  # 2048 bits at least
