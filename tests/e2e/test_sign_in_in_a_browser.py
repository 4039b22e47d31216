"""A real headless Chromium signs in on the sign-in page: a wrong password, a lockout
message, and a successful sign-in that returns to the client with a code."""

from __future__ import annotations

import re
import shutil
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.async_api import async_playwright

from services.identity.domain.oauth import ClientKind
from services.identity.service.clients import create_client
from tests.identity.oidc.conftest import Provider, authorize_params, pkce
from tests.identity.oidc.credentials import CITIZEN_LOGIN, CITIZEN_PASSWORD, ENTERPRISE_LOGIN
from tests.support.identity import identity_database
from tests.support.servers import serve

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach its own services, which this closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
MAX_ATTEMPTS_BEFORE_LOCKOUT = 10


async def register_web_client(portal: Provider, redirect_uri: str) -> str:
    """A public web client whose redirect URI is a real page served by the test (the relying party)."""
    db = identity_database(portal.db_url)
    try:
        async with db.transaction() as uow:
            await create_client(
                uow, client_id="browser-test", name="Cổng tỉnh (thử nghiệm)", kind=ClientKind.PUBLIC,
                grant_types=["authorization_code"], redirect_uris=[redirect_uri],
            )  # fmt: skip
    finally:
        await db.dispose()
    return "browser-test"


relying_party = FastAPI()


@relying_party.get("/callback", response_class=HTMLResponse)
async def callback() -> str:
    return "<p>callback</p>"


async def test_a_person_signs_in_with_chromium_after_a_wrong_password_and_sees_a_lockout(portal: Provider) -> None:
    with serve(relying_party) as rp_url:
        await _journey(portal, f"{rp_url}/callback")


async def _journey(portal: Provider, redirect_uri: str) -> None:
    _, challenge = pkce()
    params = authorize_params(
        challenge, client_id=await register_web_client(portal, redirect_uri), redirect_uri=redirect_uri
    )
    url = f"{portal.url}/oauth2/authorize?{urlencode(params)}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(locale="vi-VN")
            await page.goto(url)
            assert await page.locator("html").get_attribute("lang") == "vi"
            assert await page.get_by_label("Mật khẩu").is_visible()  # labels are tied to inputs

            await page.get_by_label("Số định danh").fill(CITIZEN_LOGIN)
            await page.get_by_label("Mật khẩu").fill("certainly-wrong-1")
            await page.get_by_role("button", name="Đăng nhập").click()
            alert = page.get_by_role("alert")
            await alert.wait_for()
            assert await alert.inner_text()
            assert urlsplit(page.url).path == "/oauth2/authorize"

            await page.get_by_label("Mật khẩu").fill(CITIZEN_PASSWORD)
            await page.get_by_role("button", name="Đăng nhập").click()
            await page.wait_for_url(f"{redirect_uri}**")
            got = parse_qs(urlsplit(page.url).query)
            assert got["state"] == [params["state"]] and got["code"][0]

            # Another person keeps guessing: the page says the account is locked and when to retry.
            other = await (await browser.new_context(locale="vi-VN")).new_page()  # another person
            await other.goto(url)
            locked_text = None
            for _ in range(MAX_ATTEMPTS_BEFORE_LOCKOUT):
                await other.get_by_label("Số định danh").fill(ENTERPRISE_LOGIN)
                await other.get_by_label("Mật khẩu").fill("still-the-wrong-one-9")
                async with other.expect_navigation() as nav:
                    await other.get_by_role("button", name="Đăng nhập").click()
                response = await nav.value
                if response is not None and response.status in (423, 429):
                    locked_text = await other.get_by_role("alert").inner_text()
                    break
            assert locked_text, "no lockout after repeated wrong passwords"
            # In the page's language, saying when to retry.
            assert re.search(r"Tài khoản tạm khóa .* thử lại sau \d+ giây", locked_text), locked_text
            await other.screenshot(path=str(portal_screenshot_dir() / "lockout.png"))
        finally:
            await browser.close()


def portal_screenshot_dir():  # type: ignore[no-untyped-def]
    import tempfile
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / "portal-screenshots"
    path.mkdir(exist_ok=True)
    return path
