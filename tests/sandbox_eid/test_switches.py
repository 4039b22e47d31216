"""The switches tests and demos use (slow, down, a bad signature, a wrong identifier), the key kept
across restarts, bounded memory, and the refusal to run in production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest

from deploy.sandbox.eid import EidSettings, create_app
from tests.sandbox_eid.conftest import Eid, authorize_params, exchange, pkce, query, sign_in, verify_id_token

ROOT = Path(__file__).resolve().parents[2]


async def tokens(eid: Eid, person: str = "binh") -> httpx.Response:
    verifier, challenge = pkce()
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await sign_in(browser, eid, authorize_params(challenge), person)
    return exchange(eid, query(answer.headers["location"])["code"], verifier)


def behave(eid: Eid, **switches: object) -> None:
    answer = httpx.post(f"{eid.url}/api/behaviour", json=switches)
    assert answer.status_code == 200, answer.text


async def test_slow_delays_the_token_endpoint(eid: Eid) -> None:
    behave(eid, slow_seconds=1.5)
    started = time.monotonic()
    assert (await tokens(eid)).status_code == 200
    assert time.monotonic() - started >= 1.5
    httpx.delete(f"{eid.url}/api/behaviour")
    started = time.monotonic()
    assert (await tokens(eid)).status_code == 200
    assert time.monotonic() - started < 1.5


def test_down_answers_503_everywhere_but_the_api(eid: Eid) -> None:
    behave(eid, down=True)
    for path in ("/.well-known/openid-configuration", "/jwks", "/authorize", "/token", "/userinfo"):
        answer = httpx.get(f"{eid.url}{path}")
        assert answer.status_code == 503 and answer.headers["retry-after"], path
    assert httpx.get(f"{eid.url}/api/behaviour").json()["down"] is True
    assert httpx.delete(f"{eid.url}/api/behaviour").json()["down"] is False
    assert httpx.get(f"{eid.url}/jwks").status_code == 200


async def test_bad_signature_makes_id_tokens_the_published_keys_do_not_verify(eid: Eid) -> None:
    behave(eid, bad_signature=True)
    token = (await tokens(eid)).json()["id_token"]
    assert pyjwt.get_unverified_header(token)["kid"] == eid.jwks["keys"][0]["kid"]
    with pytest.raises(pyjwt.InvalidSignatureError):
        verify_id_token(eid, token)
    httpx.delete(f"{eid.url}/api/behaviour")
    verify_id_token(eid, (await tokens(eid)).json()["id_token"])


async def test_wrong_identifier_changes_the_next_id_token_only(eid: Eid) -> None:
    right = verify_id_token(eid, (await tokens(eid)).json()["id_token"])
    behave(eid, wrong_identifier=True)
    wrong = verify_id_token(eid, (await tokens(eid)).json()["id_token"])
    assert wrong["sub"] == right["sub"]
    assert wrong["personal_identification_number"] != right["personal_identification_number"]
    assert len(wrong["personal_identification_number"]) == 12
    after = verify_id_token(eid, (await tokens(eid)).json()["id_token"])
    assert after["personal_identification_number"] == right["personal_identification_number"]


@pytest.mark.parametrize("body", [{"slow_seconds": -1}, {"slow_seconds": 10_000}, {"down": "maybe"}, [1]])
def test_bad_switches_are_problems(eid: Eid, body: object) -> None:
    answer = httpx.post(f"{eid.url}/api/behaviour", json=body)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


def test_the_signing_key_file_keeps_the_key_across_restarts(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "eid.pem"
    first = create_app(EidSettings(key_file=str(key_file))).state.provider.jwk
    assert key_file.exists() and key_file.stat().st_mode & 0o077 == 0
    assert create_app(EidSettings(key_file=str(key_file))).state.provider.jwk == first
    assert create_app(EidSettings()).state.provider.jwk["kid"] != first["kid"]


def test_memory_is_bounded() -> None:
    provider = create_app(EidSettings(max_kept=10)).state.provider
    for n in range(50):
        provider.jtis[str(n)] = 0.0
        provider.codes[str(n)] = None
    assert len(provider.jtis) == 10 and len(provider.codes) == 10 and "49" in provider.jtis


def test_production_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "production")
    with pytest.raises(RuntimeError, match="development only"):
        create_app()
    env = {**os.environ, "PORTAL_ENVIRONMENT": "production", "SANDBOX_EID_PORT": "1"}
    ran = subprocess.run([sys.executable, "-m", "deploy.sandbox.eid"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert ran.returncode != 0 and "development only" in ran.stderr


def test_the_default_client_is_the_portal_identity() -> None:
    [client] = EidSettings().clients
    assert client.client_id == "portal-identity" and client.jwks_uri and client.jwks is None
    assert EidSettings().port == 8040


@pytest.mark.parametrize(
    "clients",
    ['[{"client_id": "x", "redirect_uris": ["http://127.0.0.1/cb"]}]',
     '[{"client_id": "x", "redirect_uris": ["http://127.0.0.1/cb"], "jwks": {"keys": []}, "jwks_uri": "http://a/j"}]',
     '[{"client_id": "x", "redirect_uris": [], "jwks": {"keys": []}}]',
     '[{"client_id": "x", "redirect_uris": ["http://127.0.0.1/cb"], "jwks_uri": "file:///etc/keys"}]'],
)  # fmt: skip
def test_a_client_needs_redirect_uris_and_one_source_of_keys(monkeypatch: pytest.MonkeyPatch, clients: str) -> None:
    monkeypatch.setenv("SANDBOX_EID_CLIENTS", clients)
    with pytest.raises(ValueError, match="validation error"):
        EidSettings()
