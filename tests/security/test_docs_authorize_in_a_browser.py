"""Swagger UI's Authorize button, in Chromium, against the running portal: the docs page follows
the document's openIdConnect scheme to our own discovery document, a person signs in on the
portal's sign-in page in the pop-up (authorization code with PKCE, as the public docs client),
the OAuth2 redirect page hands the code back, and Swagger UI holds an access token the portal
accepts. Nothing the page loads comes from outside the gateway.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright

from gateway.openapi import OAUTH2_REDIRECT
from tests.security.conftest import register_citizen
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach its own services, which this closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
DOCS_SCOPES = ["openid", "profile", "dossier:read"]


def docs_client(stack: Stack) -> str:
    """The public client Swagger UI signs in as, as the gateway's settings name it: the seed
    registers it with the docs' redirect page."""
    client_id = stack.gateway_settings.docs_client_id
    with stack.client() as api:
        known = api.get("/api/v1/identity/clients", headers=stack.headers("admin"))
        assert known.status_code == 200, known.text
        listed: Any = known.json()
        items = listed["items"] if isinstance(listed, dict) else listed
        (client,) = [client for client in items if client.get("client_id") == client_id]
        assert client["redirect_uris"] == [stack.url + OAUTH2_REDIRECT], client
    return client_id


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is installed by `make install`")
async def test_authorize_signs_in_through_our_discovery_document_and_gets_a_token(stack: Stack) -> None:
    docs_client(stack)
    person = register_citizen(stack, 302)
    outside: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page(locale="vi-VN")
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(stack.url) else None)
            await page.goto(f"{stack.url}/docs")
            await page.locator(".swagger-ui .info .title").wait_for(timeout=30_000)
            version = await page.evaluate("window.versions.swaggerUI.version")
            assert int(version.split(".")[0]) >= 5, version

            await page.locator("button.authorize").first.click()
            flow = page.locator(".auth-container").filter(has_text="authorization_code").first
            await flow.wait_for(timeout=15_000)
            for scope in DOCS_SCOPES:
                box = flow.locator(f'input[type="checkbox"][data-value="{scope}"]')
                if await box.count() and not await box.is_checked():
                    await box.evaluate("box => box.click()")  # Swagger UI styles a label over it
            async with page.expect_popup() as opened:
                await flow.locator("button.authorize").click()
            sign_in = await opened.value
            await sign_in.get_by_label("Số định danh").fill(person.login)
            await sign_in.get_by_label("Mật khẩu").fill(person.password)
            await sign_in.get_by_role("button", name="Đăng nhập").click()
            # The pop-up came back to the redirect page, which handed the code over; Swagger UI
            # traded it (with the PKCE verifier) for tokens and now offers to log out.
            # (Polled from here: the page's CSP forbids the eval that wait_for_function needs.)
            for _ in range(300):
                if await page.evaluate("window.ui.authSelectors.authorized().size"):
                    break
                await page.wait_for_timeout(100)
            await page.get_by_role("button", name="Remove authorization").first.wait_for(timeout=10_000)

            tokens = await page.evaluate("JSON.stringify(window.ui.authSelectors.authorized().toJS())")
        finally:
            await browser.close()

    assert outside == [], outside
    token = next(iter(json.loads(tokens).values()))["token"]["access_token"]
    me = httpx.get(f"{stack.url}/api/v1/identity/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
