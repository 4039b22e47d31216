"""Signing in to the portal through the sandbox national e-ID, both on real HTTP: accounts made,
reused and linked by the identifier, mismatches refused, the e-ID's failures shown as pages, the
browser binding of the flow, levels mapped to our ``acr``, and the link's API."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import text

from services.identity.domain.accounts import Account, AccountStatus
from services.identity.domain.assurance import AccountKind
from services.identity.service import credentials
from services.kit.ids import new_id
from tests.identity.federation.conftest import (
    Federation,
    at_eid,
    back_to_client,
    browser,
    sign_in,
    start,
    tokens_after,
)
from tests.identity.oidc.conftest import authorize_params, code_for, pkce, query
from tests.support.identity import identity_database

pytestmark = pytest.mark.integration

AN, BINH = "001090012345", "079185006789"  # the sandbox's level-1 and level-2 citizens


async def count(fed: Federation, sql: str, **values: str) -> int:
    db = identity_database(fed.portal.db_url)
    try:
        async with db.engine.connect() as connection:
            return int((await connection.execute(text(sql), values)).scalar_one())
    finally:
        await db.dispose()


async def audit(fed: Federation, account_id: str) -> list[tuple[str, str, str]]:
    db = identity_database(fed.portal.db_url)
    try:
        async with db.transaction() as uow:
            return [(e.action.value, e.reason, e.actor) for e in reversed(await uow.eid_links.history(account_id, 20))]
    finally:
        await db.dispose()


async def test_the_first_sign_in_creates_the_account_and_the_next_reuses_it(federation: Federation) -> None:
    first = await tokens_after(federation, await sign_in(federation, "an"))
    assert first["acr"] == "urn:portal:acr:mfa" and first["amr"] == ["fed", "pwd"]  # level 1
    assert abs(first["auth_time"] - time.time()) < 60
    assert len(first["sid"]) >= 16  # the portal session's, as back-channel logout names it

    # Later, in the same browser, with the portal's session gone: the e-ID's own session answers,
    # so auth_time is when the e-ID authenticated the person, not when we asked.
    async with browser() as client:
        await tokens_after(federation, await sign_in(federation, "an", client))
        for session in federation.eid.state.provider.sessions.values():
            session.auth_time -= 300  # five minutes later
        client.cookies.delete("portal_session")
        again = await tokens_after(federation, await sign_in(federation, "an", client))
        assert again["sub"] == first["sub"] and again["auth_time"] < time.time() - 250
        # A client's prompt=login goes on to the e-ID, which asks the person again.
        fresh = await tokens_after(federation, await sign_in(federation, "an", client, prompt="login"))
        assert fresh["auth_time"] > time.time() - 60

    assert await count(federation, "SELECT count(*) FROM accounts WHERE personal_id = :n", n=AN) == 1
    assert await audit(federation, first["sub"]) == [("linked", "created", "eid")]
    async with federation.portal.client() as api:
        bearer = {"Authorization": f"Bearer {first['_tokens']['access_token']}"}
        me = (await api.get("/api/v1/identity/me", headers=bearer)).json()
        info = (await api.get("/oauth2/userinfo", headers=bearer)).json()
    assert me["kind"] == "citizen" and me["personal_id"].endswith(AN[-3:]) and AN not in me["personal_id"]
    assert me["verified_in_person"] is False and me["phone"] and me["birth_date"] == "1990-01-15"
    assert info["name"] == "Nguyễn Văn An"


async def test_a_password_account_with_the_number_is_linked_never_duplicated(federation: Federation) -> None:
    password = "Mật-khẩu của Bình 42"
    db = identity_database(federation.portal.db_url)
    try:
        async with db.transaction() as uow:
            account = Account(
                id=new_id(), kind=AccountKind.CITIZEN, status=AccountStatus.ACTIVE, name="Trần Thị Bình",
                password_hash=await credentials.hash_password(federation.portal.settings, password), personal_id=BINH,
            )  # fmt: skip
            await uow.accounts.add(account)
    finally:
        await db.dispose()

    claims = await tokens_after(federation, await sign_in(federation, "binh"))
    assert claims["sub"] == account.id
    assert claims["acr"] == "urn:portal:acr:in-person" and claims["amr"][0] == "fed"  # level 2
    assert {"pwd", "otp"} <= set(claims["amr"])
    assert await count(federation, "SELECT count(*) FROM accounts WHERE personal_id = :n", n=BINH) == 1
    assert await audit(federation, account.id) == [("linked", "existing-account", "eid")]
    # Where the deployment allows citizens' passwords (tests do), the password still works.
    _, challenge = pkce()
    async with federation.portal.client() as client:
        assert await code_for(client, authorize_params(challenge), BINH, password)


async def test_an_eid_that_names_another_number_for_a_linked_account_is_refused(federation: Federation) -> None:
    first = await tokens_after(federation, await sign_in(federation, "an"))
    federation.behave(wrong_identifier=True)

    refused = (await sign_in(federation, "an")).answer
    assert refused.status_code == 409 and "không khớp" in refused.text
    assert "portal_session" not in refused.headers.get("set-cookie", "")
    assert await audit(federation, first["sub"]) == [("linked", "created", "eid"),
                                                     ("refused", "identifier-mismatch", "eid")]  # fmt: skip
    assert await count(federation, "SELECT count(*) FROM accounts WHERE kind = 'citizen' AND personal_id <> :n",
                       n="001099012345") == 1  # only An: nothing created for the other number  # fmt: skip


async def test_the_eid_down_slow_or_badly_signed_ends_on_a_clear_page(federation: Federation) -> None:
    federation.behave(down=True)
    async with browser() as client:
        down = await start(federation, client, authorize_params(pkce()[1]))
    assert down.status_code == 503 and "tạm thời không phản hồi" in down.text
    assert down.headers["retry-after"] and down.headers["content-type"].startswith("text/html")

    federation.behave(bad_signature=True)
    bad = (await sign_in(federation, "an")).answer
    assert bad.status_code == 502 and "Không xác minh được" in bad.text

    federation.behave(slow_seconds=2)  # the portal waits 1 s for the token endpoint
    slow = (await sign_in(federation, "binh")).answer
    assert slow.status_code == 503 and "tạm thời không phản hồi" in slow.text

    federation.behave()  # back to normal: the same person signs in
    assert (await tokens_after(federation, await sign_in(federation, "binh")))["acr"] == "urn:portal:acr:in-person"
    assert await count(federation, "SELECT count(*) FROM eid_links") == 1


async def test_the_callback_belongs_to_the_browser_that_started_it(federation: Federation) -> None:
    params = authorize_params(pkce()[1])
    async with browser() as person, browser() as other:
        callback = await at_eid(federation, person, await start(federation, person, params), "an")
        stolen = await other.get(callback)
        assert stolen.status_code == 404 and "không bắt đầu từ trình duyệt này" in stolen.text
        done = await person.get(callback)
        assert "code=" in back_to_client(done)
        replayed = await person.get(callback)
        assert replayed.status_code == 404
        tampered = await person.get(callback.replace("state=", "state=x"))
        assert tampered.status_code == 404
        huge = await person.get(f"{federation.portal.url}/oauth2/eid/callback", params={"state": "s" * 5000})
        assert huge.status_code == 400


async def test_a_sign_in_ended_at_the_eid_is_told_to_the_client_as_access_denied(federation: Federation) -> None:
    params = authorize_params(pkce()[1])
    async with browser() as person:
        went = await start(federation, person, params)
        state = query(went.headers["location"])["state"]
        # What the e-ID sends back when the person cancels there.
        cancelled = {"state": state, "error": "access_denied", "iss": federation.eid_url}
        back = await person.get(f"{federation.portal.url}/oauth2/eid/callback", params=cancelled)
    told = query(back_to_client(back))
    assert told["error"] == "access_denied" and told["state"] == params["state"] and "code" not in told


async def test_an_enterprise_signs_in_and_unlinks_its_eid(federation: Federation) -> None:
    claims = await tokens_after(federation, await sign_in(federation, "org"))
    assert claims["acr"] == "urn:portal:acr:in-person"
    bearer = {"Authorization": f"Bearer {claims['_tokens']['access_token']}"}
    async with httpx.AsyncClient(base_url=federation.portal.url + "/api/v1/identity", timeout=30) as api:
        me = (await api.get("/me", headers=bearer)).json()
        assert me["kind"] == "enterprise" and me["tax_code"].endswith("678")
        link = (await api.get("/me/eid-link", headers=bearer)).json()
        assert link["linked"] is True and [h["action"] for h in link["history"]] == ["linked"]
        assert "vneid-org" not in link["history"][0]["eid_subject"]  # masked
        assert (await api.delete("/me/eid-link", headers=bearer)).status_code == 204
        again = await api.delete("/me/eid-link", headers=bearer)
        assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"
        assert (await api.get("/me/eid-link")).status_code == 401
        operator = await api.delete(f"/accounts/{claims['sub']}/eid-link", headers=bearer)
        assert operator.status_code == 403  # a holder is not an operator
    assert await audit(federation, claims["sub"]) == [("linked", "created", "eid"),
                                                      ("unlinked", "requested", "holder")]  # fmt: skip
    # The next e-ID sign-in links the same account again.
    assert (await tokens_after(federation, await sign_in(federation, "org")))["sub"] == claims["sub"]


async def test_a_start_with_a_bad_request_is_a_page_not_a_redirect_to_the_eid(federation: Federation) -> None:
    async with httpx.AsyncClient(base_url=federation.portal.url, follow_redirects=False) as client:
        unknown = await client.get("/oauth2/eid/start", params=authorize_params(None, client_id="nobody"))
        assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
        public_without_pkce = await client.get("/oauth2/eid/start", params=authorize_params(None))
        assert public_without_pkce.status_code == 400
        repeated = await client.get("/oauth2/eid/start?client_id=a&client_id=b")
        assert repeated.status_code == 400


async def test_a_procedure_asking_level_2_gets_it_from_the_eid_or_no_code(federation: Federation) -> None:
    # Step-up (RFC 9470) answered through the e-ID: a level 1 sign-in does not reach in-person.
    asked = {"acr_values": "urn:portal:acr:in-person"}
    level_1 = query(back_to_client((await sign_in(federation, "an", **asked)).answer))
    assert level_1["error"] == "unmet_authentication_requirements" and "code" not in level_1
    level_2 = await tokens_after(federation, await sign_in(federation, "binh", **asked))
    assert level_2["acr"] == "urn:portal:acr:in-person"
