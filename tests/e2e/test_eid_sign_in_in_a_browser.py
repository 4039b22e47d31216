"""A real headless Chromium signs in to the portal through the development national e-ID, all
behind the gateway as make run wires them: the portal's sign-in page, "Đăng nhập bằng VNeID",
the e-ID's own page (a level-2 person, password and OTP), back at the client with a code whose
tokens say level 2; then the portal's session answers the next request without a sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt as pyjwt
import pytest
from playwright.async_api import async_playwright

from deploy.local.components import free_port
from deploy.sandbox.eid import EidSettings
from deploy.sandbox.eid import create_app as create_eid
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.identity.app import create_app
from tests.e2e.test_sign_in_in_a_browser import (
    CHROMIUM,
    FLAGS,
    portal_screenshot_dir,
    register_web_client,
    relying_party,
)
from tests.identity.oidc.conftest import Provider, authorize_params, pkce, provider_settings
from tests.support.identity import seed_identity
from tests.support.servers import serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by `make browser` (make test)"),
]

EID_PASSWORD, EID_OTP = "Pw-eid-browser-5", "975310"


@pytest.fixture
def portal_with_eid(identity_db_url, infra) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    gateway_port, identity_port, eid_port = free_port(), free_port(), free_port()
    issuer, eid_issuer = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{eid_port}"
    settings = provider_settings(identity_db_url, infra.bootstrap, gateway_port, eid_issuer=eid_issuer)
    seed_identity(identity_db_url, settings)
    # The e-ID registered the portal's client with the portal's public JWKS and callback.
    client = {"client_id": "portal-identity", "redirect_uris": [f"{issuer}/oauth2/eid/callback"],
              "jwks_uri": f"{issuer}/oauth2/jwks"}  # fmt: skip
    eid = create_eid(EidSettings(issuer=eid_issuer, clients=[client], password=EID_PASSWORD, otp=EID_OTP))
    gateway = GatewaySettings(port=gateway_port, public_url=issuer, identity_url=f"http://127.0.0.1:{identity_port}",
                              log_json=False, rate_limit_per_minute=0)  # fmt: skip
    with serve(eid, port=eid_port), serve(create_app(settings), port=identity_port), \
            serve(create_gateway(gateway), port=gateway_port) as url:  # fmt: skip
        yield Provider(url, settings, identity_db_url)


async def test_a_citizen_signs_in_through_the_national_eid_with_chromium(portal_with_eid: Provider) -> None:
    portal = portal_with_eid
    with serve(relying_party) as rp_url:
        redirect_uri = f"{rp_url}/callback"
        client_id = await register_web_client(portal, redirect_uri)
        verifier, challenge = pkce()
        params = authorize_params(challenge, client_id=client_id, redirect_uri=redirect_uri)
        url = f"{portal.url}/oauth2/authorize?{urlencode(params)}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = await browser.new_page(locale="vi-VN")
                await page.goto(url)
                await page.screenshot(path=str(portal_screenshot_dir() / "sign-in-with-vneid.png"))
                await page.get_by_role("link", name="Đăng nhập bằng VNeID").click()

                # The e-ID's own page, on its own origin.
                await page.get_by_label(re.compile("Trần Thị Bình")).check()
                assert urlsplit(page.url).netloc != urlsplit(portal.url).netloc
                await page.get_by_label("Mật khẩu").fill(EID_PASSWORD)
                await page.get_by_label(re.compile("Mã OTP")).fill(EID_OTP)
                await page.get_by_role("button", name="Đăng nhập").click()
                await page.wait_for_url(f"{redirect_uri}?*")
                got = parse_qs(urlsplit(page.url).query)
                assert got["state"] == [params["state"]] and got["iss"] == [portal.settings.oidc_issuer]
                code = got["code"][0]

                # The portal's own session now: the next sign-in asks nobody.
                again = authorize_params(pkce()[1], client_id=client_id, redirect_uri=redirect_uri)
                await page.goto(f"{portal.url}/oauth2/authorize?{urlencode(again)}")
                await page.wait_for_url(f"{redirect_uri}?*")
                assert parse_qs(urlsplit(page.url).query)["state"] == [again["state"]]
            finally:
                await browser.close()

    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as http:
        answer = await http.post("/oauth2/token", data={"grant_type": "authorization_code", "code": code,
                                                        "redirect_uri": redirect_uri, "client_id": client_id,
                                                        "code_verifier": verifier})  # fmt: skip
    assert answer.status_code == 200, answer.text
    claims = pyjwt.decode(answer.json()["id_token"], options={"verify_signature": False})
    assert claims["acr"] == "urn:portal:acr:in-person" and claims["amr"][0] == "fed"
    assert claims["nonce"] == params["nonce"]
