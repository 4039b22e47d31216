"""The contacts lookup for the notification service and the deletion of accounts, on the provider
itself: real tokens from its grants (client credentials, code + PKCE with a password and a TOTP
code), checked by its own API against its own JWKS, on a real PostgreSQL.

- Contacts: only a machine client holding ``identity:contacts`` (the seeded
  ``notification-service``) reads them; ``no-store``; at most 100 ids a batch; unknown ids 404
  or listed as missing; nothing of a contact in the log records.
- Officials: the same client reads which active officials act for agencies (ids and the agencies
  asked, nothing else), at most 50 agencies and 500 a page with a cursor, codes checked; ``no-store``.
- Deletion: the holder with the password (a wrong one changes nothing), an administrator signed in
  with the second factor (an official, a machine, the holder without the password are refused);
  the event written once; the personal data erased; sessions and tokens ended; then the lookup
  answers 404 and sign-in fails as for an unknown login.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, insert, select

from deploy.local.components import free_port
from services.identity.adapters.accounts import accounts, one_time_codes, sign_in_audit
from services.identity.adapters.oauth import browser_sessions, refresh_tokens, revoked_access_tokens
from services.identity.api.contacts import _service
from services.identity.app import create_app
from services.identity.domain.oauth import ClientKind
from services.identity.service.accounts import (
    SEED_ACCOUNTS,
    SEED_ADMIN_ID,
    SEED_CITIZEN_ID,
    SEED_ENTERPRISE_ID,
    SEED_OFFICIAL_ID,
)
from services.identity.service.clients import DEMO_OPERATOR_REDIRECT, NOTIFICATION_CLIENT, create_client
from services.kit.auth import Principal
from services.kit.db import Database
from services.kit.errors import Forbidden
from services.kit.tables import outbox
from tests.identity.oidc.conftest import (
    REDIRECT,
    Provider,
    authorize_params,
    code_for,
    pkce,
    provider_settings,
    query,
    read_form,
    submit_sign_in,
)
from tests.support.identity import identity_database, seed_identity
from tests.support.servers import serve

pytestmark = pytest.mark.integration

_by_kind = {a["kind"]: a for a in SEED_ACCOUNTS}
CITIZEN, ENTERPRISE, OFFICIAL, ADMIN = (_by_kind[k] for k in ("citizen", "enterprise", "official", "admin"))
NOTIFIER = (NOTIFICATION_CLIENT, "notification-service-development-secret")
PROVINCE = ("demo-province", "demo-province-development-secret")
ROBOT = ("identity-robot", "identity-robot-test-secret")
UNKNOWN_ID = "00000000-0000-4000-8000-0000000000ff"
DELETED = "identity.account.deleted.v1"


@pytest.fixture
def provider(identity_db_url: str, infra: Any) -> Iterator[Provider]:
    """The provider with its fixtures, its API checking tokens against its own JWKS, logging at
    DEBUG (what the log test reads is everything the service writes)."""
    port = free_port()
    settings = provider_settings(
        identity_db_url, infra.bootstrap, port, oidc_jwks_url=f"http://127.0.0.1:{port}/oauth2/jwks", log_level="DEBUG"
    )
    seed_identity(identity_db_url, settings)
    with serve(create_app(settings), port=port) as url:
        yield Provider(url, settings, identity_db_url)


@pytest.fixture
async def db(provider: Provider) -> AsyncIterator[Database]:
    database = identity_database(provider.db_url)
    yield database
    await database.dispose()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line the service writes while the test runs, rendered as the kit renders them."""
    root = logging.getLogger()
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        yield written
    finally:
        root.removeHandler(handler)


async def _client_token(provider: Provider, credentials: tuple[str, str], scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    async with provider.client() as client:
        answer = await client.post("/oauth2/token", data=data, auth=credentials)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def _robot(provider: Provider, db: Database) -> str:
    """A machine client allowed ``identity:admin`` (and not ``identity:contacts``), and its token."""
    async with db.transaction() as uow:
        await create_client(
            uow, client_id=ROBOT[0], name="Robot", kind=ClientKind.CONFIDENTIAL, grant_types=["client_credentials"],
            allowed_scopes=["identity:admin"], secret=ROBOT[1],
        )  # fmt: skip
    return await _client_token(provider, ROBOT)


async def _person_tokens(provider: Provider, login: str, password: str, scope: str = "openid") -> dict[str, Any]:
    """A citizen's or an enterprise's tokens from the web app (code + PKCE)."""
    verifier, challenge = pkce()
    async with provider.client() as browser:
        code = await code_for(browser, authorize_params(challenge, scope=scope), login, password)
        answer = await browser.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": "demo-web",
                  "code_verifier": verifier},
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _operator_token(provider: Provider, account: Any, scope: str) -> str:
    """An official's or an administrator's access token from the console (password and TOTP code)."""
    verifier, challenge = pkce()
    params = {"client_id": "demo-operator", "redirect_uri": DEMO_OPERATOR_REDIRECT, "response_type": "code",
              "scope": scope, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "login"}  # fmt: skip
    async with provider.client() as browser:
        answer = await submit_sign_in(
            browser, params, account["username"], account["password"], pyotp.TOTP(account["totp"]).now()
        )
        assert answer.status_code == 303, answer.text
        tokens = await browser.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": query(answer.headers["location"])["code"],
                  "redirect_uri": DEMO_OPERATOR_REDIRECT, "client_id": "demo-operator", "code_verifier": verifier},
        )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _api(provider: Provider, token: str | None = None) -> httpx.AsyncClient:
    headers = _bearer(token) if token else {}
    return httpx.AsyncClient(base_url=provider.url + "/api/v1/identity", headers=headers, timeout=30)


async def _deleted_events(db: Database) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        rows = await session.execute(select(outbox.c.data, outbox.c.key).where(outbox.c.type == DELETED))
        return [{**row.data, "_key": row.key} for row in rows]


async def _row(db: Database, account_id: str) -> Any:
    async with db.sessions() as session:
        return (await session.execute(select(accounts).where(accounts.c.id == account_id))).one()


async def _count(db: Database, table: Any, *where: Any) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    return body


# --- contacts -------------------------------------------------------------------------------


async def test_the_notification_service_reads_contacts_and_nobody_else_does(provider: Provider, db: Database) -> None:
    notifier = await _client_token(provider, NOTIFIER)
    province = await _client_token(provider, PROVINCE)
    robot = await _robot(provider, db)
    person = (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]
    path = f"/contacts/{SEED_CITIZEN_ID}"
    body = {"accounts": [SEED_CITIZEN_ID]}
    async with _api(provider) as anonymous, _api(provider, notifier) as service:
        nobody = [await anonymous.get(path), await anonymous.post("/contacts/lookup", json=body)]
        answered = [await service.get(path), await service.post("/contacts/lookup", json=body)]
        others = {
            name: [
                await anonymous.get(path, headers=_bearer(token)),
                await anonymous.post("/contacts/lookup", json=body, headers=_bearer(token)),
            ]
            for name, token in (("province", province), ("robot", robot), ("person", person))
        }
    for answer in nobody:
        _assert_problem(answer, 401)
    for answer in others["province"]:  # a token for another service (audience sync)
        _assert_problem(answer, 401)
    for answer in others["robot"] + others["person"]:  # a token for identity, without the scope
        assert "identity:contacts" in _assert_problem(answer, 403)["detail"]
    one, batch = answered
    assert one.status_code == 200 and batch.status_code == 200
    expected = {"account_id": SEED_CITIZEN_ID, "kind": "citizen", "phone": "+84912345678", "phone_verified": True,
                "email": "an.nguyen@example.vn", "email_verified": True, "preferred_language": None}  # fmt: skip
    assert one.json() == expected
    assert batch.json() == {"contacts": [expected], "missing": []}
    assert one.headers["cache-control"] == batch.headers["cache-control"] == "no-store"


async def test_a_persons_token_is_refused_even_with_the_scope() -> None:
    person = Principal(subject=SEED_CITIZEN_ID, scopes=frozenset({"identity:contacts"}), client_id="demo-web")
    machine = Principal(
        subject=NOTIFICATION_CLIENT, scopes=frozenset({"identity:contacts"}), client_id=NOTIFICATION_CLIENT
    )
    signed_in = Principal(
        subject=NOTIFICATION_CLIENT, scopes=machine.scopes, client_id=NOTIFICATION_CLIENT, acr="urn:portal:acr:mfa"
    )
    for caller in (person, signed_in, Principal(subject=SEED_CITIZEN_ID, scopes=machine.scopes)):
        with pytest.raises(Forbidden):
            await _service(caller)
    assert await _service(machine) is machine


async def test_the_batch_answers_in_order_lists_the_missing_and_holds_at_most_100(provider: Provider) -> None:
    notifier = await _client_token(provider, NOTIFIER)
    asked = [SEED_ENTERPRISE_ID, UNKNOWN_ID, SEED_CITIZEN_ID, SEED_ENTERPRISE_ID]
    async with _api(provider, notifier) as service:
        found = await service.post("/contacts/lookup", json={"accounts": asked})
        unknown = await service.get(f"/contacts/{UNKNOWN_ID}")
        hundred = await service.post("/contacts/lookup", json={"accounts": [f"id-{n}" for n in range(100)]})
        too_many = await service.post("/contacts/lookup", json={"accounts": [f"id-{n}" for n in range(101)]})
        empty = await service.post("/contacts/lookup", json={"accounts": []})
        extra = await service.post("/contacts/lookup", json={"accounts": [SEED_CITIZEN_ID], "fields": ["phone"]})
    assert found.status_code == 200
    assert [c["account_id"] for c in found.json()["contacts"]] == [SEED_ENTERPRISE_ID, SEED_CITIZEN_ID]
    assert found.json()["contacts"][0] == {
        "account_id": SEED_ENTERPRISE_ID, "kind": "enterprise", "phone": None, "phone_verified": False,
        "email": None, "email_verified": False, "preferred_language": None,
    }  # fmt: skip
    assert found.json()["missing"] == [UNKNOWN_ID]
    _assert_problem(unknown, 404)
    assert unknown.headers["cache-control"] == "no-store"
    assert hundred.status_code == 200 and len(hundred.json()["missing"]) == 100
    for refused in (too_many, empty, extra):
        _assert_problem(refused, 422)


async def test_no_contact_detail_reaches_the_logs(provider: Provider, logs: io.StringIO) -> None:
    notifier = await _client_token(provider, NOTIFIER)
    async with _api(provider, notifier) as service:
        for _ in range(2):
            assert (await service.get(f"/contacts/{SEED_CITIZEN_ID}")).status_code == 200
            assert (await service.post("/contacts/lookup", json={"accounts": [SEED_CITIZEN_ID]})).status_code == 200
    # The kit's request lines (their paths' 12-digit runs masked as a personal number would be),
    # written once each answer has gone: waited for, a few seconds at most.
    lines = ("route=/contacts/{account_id} status=200", "route=/contacts/lookup status=200")
    for _ in range(100):
        written = logs.getvalue()
        if all(written.count(line) == 2 for line in lines):
            break
        await asyncio.sleep(0.02)
    assert all(written.count(line) == 2 for line in lines), written
    for secret in ("+84912345678", "0912345678", "912345678", "an.nguyen@example.vn", "an.nguyen", NOTIFIER[1]):
        assert secret not in written


# --- officials of an agency ---------------------------------------------------------------

H22, H23, H24 = "000.00.01.H22", "000.00.01.H23", "000.00.01.H24"


async def _add_officials(db: Database, rows: list[tuple[str, str, str, list[str]]]) -> None:
    """Accounts (id, kind, status, agencies) straight into the table."""
    async with db.transaction() as uow:
        await uow.connection.execute(
            insert(accounts),
            [{"id": i, "kind": k, "status": s, "name": f"Cán bộ {i}", "password_hash": "", "agencies": a}
             for i, k, s, a in rows],
        )  # fmt: skip


async def test_the_officials_of_agencies_are_their_active_officials_ids_only(provider: Provider, db: Database) -> None:
    await _add_officials(db, [
        ("off-a", "official", "active", [H23]), ("off-b", "official", "active", [H22, H23, H24]),
        ("off-locked", "official", "locked", [H23]), ("off-disabled", "official", "disabled", [H23]),
        ("adm-x", "admin", "active", [H23]), ("cit-x", "citizen", "active", [H23]),
        ("off-elsewhere", "official", "active", ["000.00.01.H99"]),
    ])  # fmt: skip
    notifier = await _client_token(provider, NOTIFIER)
    async with _api(provider, notifier) as service:
        h23 = await service.get("/officials", params={"agency": H23})
        both = await service.get("/officials", params={"agency": [H22, H23]})
        nobody = await service.get("/officials", params={"agency": "000.00.01.H50"})
    assert h23.status_code == 200, h23.text
    assert h23.headers["cache-control"] == "no-store"
    assert h23.json() == {"officials": [{"account_id": "off-a", "agencies": [H23]},
                                        {"account_id": "off-b", "agencies": [H23]}], "next": None}  # fmt: skip
    assert both.json()["officials"] == [
        {"account_id": SEED_OFFICIAL_ID, "agencies": [H22]}, {"account_id": "off-a", "agencies": [H23]},
        {"account_id": "off-b", "agencies": [H22, H23]},
    ]  # fmt: skip
    assert nobody.json() == {"officials": [], "next": None}


async def test_the_officials_come_in_bounded_pages_with_a_cursor(provider: Provider, db: Database) -> None:
    await _add_officials(db, [(f"off-{n:04d}", "official", "active", [H24]) for n in range(505)])
    notifier = await _client_token(provider, NOTIFIER)
    async with _api(provider, notifier) as service:
        first = await service.get("/officials", params={"agency": H24})
        second = await service.get("/officials", params={"agency": H24, "after": first.json()["next"]})
        small = await service.get("/officials", params={"agency": H24, "limit": 2, "after": "off-0500"})
    assert [o["account_id"] for o in first.json()["officials"]] == [f"off-{n:04d}" for n in range(500)]
    assert first.json()["next"] == "off-0499"
    assert second.json() == {"officials": [{"account_id": f"off-{n:04d}", "agencies": [H24]} for n in range(500, 505)],
                             "next": None}  # fmt: skip
    assert [o["account_id"] for o in small.json()["officials"]] == ["off-0501", "off-0502"]
    assert small.json()["next"] == "off-0502"


async def test_the_officials_lookup_refuses_bad_input_as_problems(provider: Provider) -> None:
    notifier = await _client_token(provider, NOTIFIER)
    fifty = [f"000.00.{n:02d}.H22" for n in range(50)]
    async with _api(provider, notifier) as service:
        answers = {
            "no agency": await service.get("/officials"),
            "bad code": await service.get("/officials", params={"agency": "H22; drop"}),
            "lower case": await service.get("/officials", params={"agency": "000.00.01.h22"}),
            "51 agencies": await service.get("/officials", params={"agency": [*fifty, H23]}),
            "limit 501": await service.get("/officials", params={"agency": H22, "limit": 501}),
            "limit 0": await service.get("/officials", params={"agency": H22, "limit": 0}),
            "bad cursor": await service.get("/officials", params={"agency": H22, "after": "a b"}),
            "unknown": await service.get("/officials", params={"agency": H22, "fields": "phone"}),
        }
        fine = await service.get("/officials", params={"agency": fifty})
    for name, answer in answers.items():
        assert answer.status_code == 422, name
        assert answer.headers["content-type"] == "application/problem+json", name
    assert fine.status_code == 200


async def test_only_the_notification_service_reads_the_officials(provider: Provider, db: Database) -> None:
    province = await _client_token(provider, PROVINCE)
    robot = await _robot(provider, db)
    person = (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]
    official = await _operator_token(provider, OFFICIAL, "openid")
    params = {"agency": H22}
    async with _api(provider) as anonymous:
        nobody = await anonymous.get("/officials", params=params)
        others = {name: await anonymous.get("/officials", params=params, headers=_bearer(token))
                  for name, token in (("province", province), ("robot", robot), ("person", person),
                                      ("official", official))}  # fmt: skip
    _assert_problem(nobody, 401)
    _assert_problem(others["province"], 401)
    for name in ("robot", "person", "official"):
        assert "identity:contacts" in _assert_problem(others[name], 403)["detail"], name


# --- deletion by the holder -----------------------------------------------------------------


async def test_a_wrong_password_deletes_nothing(provider: Provider, db: Database) -> None:
    person = (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]
    async with _api(provider, person) as api:
        wrong = await api.post("/me/closure", json={"password": "not-the-password-1"})
        missing = await api.post("/me/closure", json={})
    _assert_problem(wrong, 403)
    _assert_problem(missing, 422)
    row = await _row(db, SEED_CITIZEN_ID)
    assert (row.status, row.personal_id, row.phone, row.email) == ("active", "001099012345", "+84912345678",
                                                                    "an.nguyen@example.vn")  # fmt: skip
    assert row.failed_sign_ins == 1  # counted towards the lockout, as a wrong current password is
    assert await _deleted_events(db) == []
    assert await _count(db, browser_sessions, browser_sessions.c.revoked_at.is_not(None)) == 0
    # The account still signs in.
    assert (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]


async def test_the_holder_closes_the_account_and_it_is_gone_everywhere(provider: Provider, db: Database) -> None:
    tokens = await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"], "openid phone")
    notifier = await _client_token(provider, NOTIFIER)
    async with _api(provider, tokens["access_token"]) as api:
        closed = await api.post("/me/closure", json={"password": CITIZEN["password"]})
        again = await api.post("/me/closure", json={"password": CITIZEN["password"]})
        me = await api.get("/me")
    assert closed.status_code == 204, closed.text
    _assert_problem(again, 404)
    _assert_problem(me, 404)

    events = await _deleted_events(db)
    assert len(events) == 1
    event = events[0]
    assert event.pop("deleted_at") and event == {
        "account_id": SEED_CITIZEN_ID,
        "kind": "citizen",
        "_key": SEED_CITIZEN_ID,
    }

    row = await _row(db, SEED_CITIZEN_ID)
    assert row.status == "deleted" and row.deleted_at is not None and row.kind == "citizen"
    erased = (row.name, row.personal_id, row.tax_code, row.username, row.birth_date, row.phone, row.email,
              row.password_hash, row.totp_secret, row.agencies, row.roles)  # fmt: skip
    assert erased == ("", None, None, None, None, None, None, "", None, [], [])
    assert await _count(db, one_time_codes, one_time_codes.c.account_id == SEED_CITIZEN_ID) == 0
    live = browser_sessions.c.account_id == SEED_CITIZEN_ID, browser_sessions.c.revoked_at.is_(None)
    assert await _count(db, browser_sessions, *live) == 0
    assert await _count(db, refresh_tokens, refresh_tokens.c.account_id == SEED_CITIZEN_ID) >= 1
    unrevoked = refresh_tokens.c.account_id == SEED_CITIZEN_ID, refresh_tokens.c.revoked_at.is_(None)
    assert await _count(db, refresh_tokens, *unrevoked) == 0
    assert await _count(db, revoked_access_tokens) >= 1

    async with provider.client() as client, _api(provider, notifier) as service:
        refreshed = await client.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "demo-web"},
        )
        userinfo = await client.get("/oauth2/userinfo", headers=_bearer(tokens["access_token"]))
        contact = await service.get(f"/contacts/{SEED_CITIZEN_ID}")
        batch = await service.post("/contacts/lookup", json={"accounts": [SEED_CITIZEN_ID]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert userinfo.status_code == 401
    _assert_problem(contact, 404)
    assert batch.json() == {"contacts": [], "missing": [SEED_CITIZEN_ID]}


async def test_sign_in_after_deletion_fails_as_for_an_unknown_login(provider: Provider, db: Database) -> None:
    person = (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]
    async with _api(provider, person) as api:
        assert (await api.post("/me/closure", json={"password": CITIZEN["password"]})).status_code == 204
    _, challenge = pkce()
    async with provider.client() as browser:
        deleted = await submit_sign_in(
            browser, authorize_params(challenge), CITIZEN["personal_id"], CITIZEN["password"]
        )
        by_phone = await submit_sign_in(browser, authorize_params(challenge), "0912345678", CITIZEN["password"])
        unknown = await submit_sign_in(browser, authorize_params(challenge), "001099099999", CITIZEN["password"])
    assert deleted.status_code == by_phone.status_code == unknown.status_code
    assert "location" not in deleted.headers and deleted.status_code != 303
    alerts = {read_form(answer.text).alert for answer in (deleted, by_phone, unknown)}
    assert len(alerts) == 1 and None not in alerts
    async with db.sessions() as session:
        reasons = list((await session.execute(select(sign_in_audit.c.reason).order_by(sign_in_audit.c.id))).scalars())
    assert reasons[-3:] == ["unknown-login"] * 3


async def test_officials_and_administrators_do_not_close_their_own_accounts(provider: Provider, db: Database) -> None:
    official = await _operator_token(provider, OFFICIAL, "openid dossier:read")
    async with _api(provider, official) as api:
        refused = await api.post("/me/closure", json={"password": OFFICIAL["password"]})
    _assert_problem(refused, 403)
    assert (await _row(db, OFFICIAL["id"])).status == "active" and await _deleted_events(db) == []


# --- deletion by an administrator -----------------------------------------------------------


async def test_an_administrator_deletes_an_account_once(provider: Provider, db: Database) -> None:
    admin = await _operator_token(provider, ADMIN, "openid identity:admin")
    notifier = await _client_token(provider, NOTIFIER)
    async with _api(provider, admin) as api:
        deleted = await api.delete(f"/accounts/{SEED_ENTERPRISE_ID}")
        again = await api.delete(f"/accounts/{SEED_ENTERPRISE_ID}")
        unknown = await api.delete(f"/accounts/{UNKNOWN_ID}")
        themselves = await api.delete(f"/accounts/{SEED_ADMIN_ID}")
    assert deleted.status_code == 204, deleted.text
    _assert_problem(again, 404)
    _assert_problem(unknown, 404)
    _assert_problem(themselves, 403)
    events = await _deleted_events(db)
    assert [(e["account_id"], e["kind"]) for e in events] == [(SEED_ENTERPRISE_ID, "enterprise")]
    row = await _row(db, SEED_ENTERPRISE_ID)
    assert (row.status, row.tax_code, row.name) == ("deleted", None, "")
    assert row.legal_representative_id == SEED_CITIZEN_ID  # kept for the audit: an account id, no personal datum
    assert (await _row(db, SEED_ADMIN_ID)).status == "active"
    async with _api(provider, notifier) as service:
        _assert_problem(await service.get(f"/contacts/{SEED_ENTERPRISE_ID}"), 404)
    _, challenge = pkce()
    async with provider.client() as browser:
        answer = await submit_sign_in(
            browser, authorize_params(challenge), ENTERPRISE["tax_code"], ENTERPRISE["password"]
        )
    assert answer.status_code != 303 and "location" not in answer.headers


async def test_only_an_administrator_signed_in_deletes(provider: Provider, db: Database) -> None:
    official = await _operator_token(provider, OFFICIAL, "openid dossier:process")
    robot = await _robot(provider, db)
    citizen = (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]
    async with _api(provider) as api:
        nobody = await api.delete(f"/accounts/{SEED_ENTERPRISE_ID}")
        answers = [
            await api.delete(f"/accounts/{SEED_ENTERPRISE_ID}", headers=_bearer(token))
            for token in (official, robot, citizen)
        ]
    _assert_problem(nobody, 401)
    for answer in answers:
        _assert_problem(answer, 403)
    assert (await _row(db, SEED_ENTERPRISE_ID)).status == "active"
    assert await _deleted_events(db) == []


async def test_two_closures_at_once_delete_once(provider: Provider, db: Database) -> None:
    person = (await _person_tokens(provider, CITIZEN["personal_id"], CITIZEN["password"]))["access_token"]
    async with _api(provider, person) as first, _api(provider, person) as second:
        answers = await asyncio.gather(
            first.post("/me/closure", json={"password": CITIZEN["password"]}),
            second.post("/me/closure", json={"password": CITIZEN["password"]}),
        )
    assert sorted(answer.status_code for answer in answers) == [204, 404]
    assert len(await _deleted_events(db)) == 1
