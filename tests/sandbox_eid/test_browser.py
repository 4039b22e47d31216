"""A real headless Chromium signs in on the sandbox e-ID's page: a wrong OTP, then a level-2
person, back at the relying party with a code and the state."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.async_api import async_playwright

from deploy.local.components import free_port
from deploy.sandbox.eid import EidSettings, create_app
from tests.sandbox_eid.conftest import CLIENT_ID, OTP, PASSWORD, ClientKey, authorize_params, pkce, query
from tests.support.servers import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach its own services, which this closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip

relying_party = FastAPI()


@relying_party.get("/callback", response_class=HTMLResponse)
async def callback() -> str:
    return "<p>callback</p>"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by `make browser` (make test)")
async def test_a_person_signs_in_with_chromium(client_keys: tuple[ClientKey, ClientKey]) -> None:
    with serve(relying_party) as rp_url:
        redirect = f"{rp_url}/callback"
        port = free_port("127.0.0.1")
        client = {"client_id": CLIENT_ID, "redirect_uris": [redirect], "jwks": {"keys": [client_keys[0].public_jwk]}}
        settings = EidSettings(issuer=f"http://127.0.0.1:{port}", clients=[client], password=PASSWORD, otp=OTP)
        with serve(create_app(settings), port=port) as eid_url:
            _, challenge = pkce()
            params = authorize_params(challenge, redirect_uri=redirect, acr_values="urn:vn:eid:level2")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    page = await browser.new_page(locale="vi-VN")
                    await page.goto(f"{eid_url}/authorize?{urlencode(params)}")
                    assert await page.locator("html").get_attribute("lang") == "vi"
                    await page.get_by_label(re.compile("Trần Thị Bình")).check()
                    await page.get_by_label("Mật khẩu").fill(PASSWORD)
                    await page.get_by_label(re.compile("Mã OTP")).fill("000000")
                    await page.get_by_role("button", name="Đăng nhập").click()
                    alert = page.get_by_role("alert")
                    await alert.wait_for()
                    assert "OTP" in await alert.inner_text()

                    await page.get_by_label(re.compile("Trần Thị Bình")).check()
                    await page.get_by_label("Mật khẩu").fill(PASSWORD)
                    await page.get_by_label(re.compile("Mã OTP")).fill(OTP)
                    await page.get_by_role("button", name="Đăng nhập").click()
                    await page.wait_for_url(f"{redirect}?*")
                finally:
                    await browser.close()
    back = query(page.url)
    assert urlsplit(page.url).path == "/callback"
    assert back["code"] and back["state"] == params["state"] and back["iss"] == eid_url
