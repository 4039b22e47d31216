"""Registration over real HTTP: the phone code read from the development endpoint, its limits
(attempts, expiry, single use, per-phone and per-IP rates), duplicates, input errors, events."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.identity.adapters.accounts import accounts, one_time_codes, sent_messages
from services.identity.service import seed as seed_cases
from services.identity.service import sign_in as sign_in_cases
from services.identity.service.accounts import SEED_CITIZEN_ID, SEED_OFFICIAL_ID
from services.kit.settings import Environment
from tests.identity.accounts.support import assert_problem, count, outbox_data, outbox_types
from tests.support.servers import serve

pytestmark = pytest.mark.integration

CITIZEN = {
    "personal_id": "079190001234", "full_name": "  Phạm   Thị Hoa ", "birth_date": "1990-03-08",
    "phone": "0987 654 321", "email": "hoa.pham@example.vn", "password": "Sông-Hồng chảy 2025",
}  # fmt: skip
PHONE = "+84987654321"


def from_ip(ip: str) -> dict[str, str]:
    """The test client connects from loopback, which the server trusts to forward the client IP."""
    return {"X-Forwarded-For": ip}


async def register(client: httpx.AsyncClient, ip: str = "203.0.113.10", **changes: Any) -> httpx.Response:
    return await client.post("/registrations/citizen", json={**CITIZEN, **changes}, headers=from_ip(ip))


async def last_code(client: httpx.AsyncClient, phone: str = PHONE) -> str:
    response = await client.get("/dev/messages", params={"to": phone})
    assert response.status_code == 200, response.text
    newest = response.json()["messages"][0]
    assert newest["channel"] == "sms" and newest["recipient"] == phone
    return re.search(r"\b(\d{6})\b", newest["body"]).group(1)  # type: ignore[union-attr]


async def verify(client: httpx.AsyncClient, account_id: str, code: str) -> httpx.Response:
    return await client.post("/registrations/verify", json={"account_id": account_id, "code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_citizen_registers_verifies_the_phone_and_signs_in(server) -> None:
    async with server.client() as client:
        started = await register(client)
        assert started.status_code == 202, started.text
        body = started.json()
        assert body["status"] == "pending"
        expires = datetime.fromisoformat(body["code_expires_at"])
        assert timedelta(seconds=290) < expires - datetime.now(UTC) <= timedelta(seconds=300)
        code = await last_code(client)
        verified = await verify(client, body["account_id"], code)
        assert verified.status_code == 200, verified.text
        assert verified.json() == {"account_id": body["account_id"], "status": "active", "code_expires_at": None}

        me = await client.get("/me", headers=server.issuer.bearer(body["account_id"]))
    assert me.status_code == 200
    profile = me.json()
    assert {k: profile[k] for k in ("kind", "status", "name", "personal_id", "phone", "email", "birth_date")} == {
        "kind": "citizen", "status": "active", "name": "Phạm Thị Hoa", "personal_id": "*********234",
        "phone": "*********321", "email": "h***@example.vn", "birth_date": "1990-03-08",
    }  # fmt: skip
    assert profile["phone_verified"] is True and profile["second_factor_enrolled"] is False

    assert await outbox_types(server.db) == ["identity.account.registered.v1", "identity.account.verified.v1"]
    [registered] = await outbox_data(server.db, "identity.account.registered.v1")
    assert set(registered) == {"account_id", "kind", "status", "legal_representative_id", "registered_at", "_key"}
    assert (registered["_key"], registered["kind"], registered["status"]) == (body["account_id"], "citizen", "pending")
    [verified_event] = await outbox_data(server.db, "identity.account.verified.v1")
    assert (verified_event["account_id"], verified_event["channel"]) == (body["account_id"], "sms")

    async with server.db.transaction() as uow:
        signed_in = await sign_in_cases.sign_in(
            uow, server.settings, login="0987654321", password=CITIZEN["password"], totp_code=None,
            client_ip="203.0.113.10", now=datetime.now(UTC),
        )  # fmt: skip
    assert signed_in.account_id == body["account_id"]


async def test_the_code_is_stored_only_as_a_keyed_hash(server) -> None:
    async with server.client() as client:
        account_id = (await register(client)).json()["account_id"]
        code = await last_code(client)
    async with server.db.sessions() as session:
        row = (await session.execute(select(one_time_codes))).mappings().one()
    assert row["account_id"] == account_id and row["destination"] == PHONE and row["client_ip"] == "203.0.113.10"
    assert code not in row["code_hash"] and len(row["code_hash"]) == 64


async def test_wrong_codes_count_down_then_the_code_is_dead_until_a_new_one_is_sent(server) -> None:
    async with server.client() as client:
        account_id = (await register(client)).json()["account_id"]
        code = await last_code(client)
        for left in (4, 3, 2, 1, 0):
            body = assert_problem(await verify(client, account_id, wrong(code)), 400, "invalid-code")
            assert body["attempts_left"] == left
        dead = assert_problem(await verify(client, account_id, code), 410, "code-no-longer-valid")
        assert dead["reason"] == "attempts-exhausted"

        resent = await client.post("/registrations/resend", json={"account_id": account_id})
        assert resent.status_code == 202
        fresh = await last_code(client)
        assert (await verify(client, account_id, fresh)).json()["status"] == "active"


async def test_a_code_is_used_once(server) -> None:
    async with server.client() as client:
        account_id = (await register(client)).json()["account_id"]
        code = await last_code(client)
        first, second = await asyncio.gather(verify(client, account_id, code), verify(client, account_id, code))
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 410], (first.text, second.text)
    refused = first if first.status_code == 410 else second
    assert assert_problem(refused, 410, "code-no-longer-valid")["reason"] == "used"
    assert await outbox_types(server.db) == ["identity.account.registered.v1", "identity.account.verified.v1"]


async def test_an_expired_code_is_refused(serve_accounts) -> None:
    with serve_accounts(code_ttl_seconds=1) as server:
        async with server.client() as client:
            account_id = (await register(client)).json()["account_id"]
            code = await last_code(client)
            await asyncio.sleep(1.2)
            body = assert_problem(await verify(client, account_id, code), 410, "code-no-longer-valid")
    assert body["reason"] == "expired" and body["detail"] == "The code has expired. Ask for a new code."


async def test_codes_per_phone_are_rate_limited_with_retry_after(serve_accounts) -> None:
    with serve_accounts(code_sends_per_phone=2, code_phone_window_seconds=600) as server:
        async with server.client() as client:
            account_id = (await register(client)).json()["account_id"]
            assert (await client.post("/registrations/resend", json={"account_id": account_id})).status_code == 202
            limited = await client.post("/registrations/resend", json={"account_id": account_id})
            body = assert_problem(limited, 429, "rate-limited")
            # A new registration of the same phone from elsewhere counts against the same phone.
            other = await register(client, ip="198.51.100.50", personal_id="079190009999")
            assert_problem(other, 429, "rate-limited")
    assert 590 <= int(limited.headers["retry-after"]) <= 600
    assert "this phone number" in body["detail"]
    assert await count(server.db, one_time_codes) == 2
    assert await count(server.db, accounts) == 1  # the refused registration wrote nothing


async def test_codes_per_client_ip_are_rate_limited_with_retry_after(serve_accounts) -> None:
    with serve_accounts(code_sends_per_ip=2, code_ip_window_seconds=120) as server:
        async with server.client() as client:
            for n, phone in enumerate(("0911000001", "0911000002")):
                started = await register(client, ip="198.51.100.7", phone=phone, personal_id=f"07919000000{n}")
                assert started.status_code == 202, started.text
            limited = await register(client, ip="198.51.100.7", phone="0911000003", personal_id="079190000003")
            elsewhere = await register(client, ip="198.51.100.8", phone="0911000003", personal_id="079190000003")
    body = assert_problem(limited, 429, "rate-limited")
    assert "this address" in body["detail"] and 110 <= int(limited.headers["retry-after"]) <= 120
    assert elsewhere.status_code == 202


async def test_a_registered_personal_id_or_phone_is_refused_with_409(server) -> None:
    async with server.client() as client:
        first = (await register(client)).json()["account_id"]
        first_code = await last_code(client)
        # A second pending registration is allowed: the first to verify the phone wins.
        rival = await register(client, ip="198.51.100.60", password="Another-Long-Pass-9")
        assert rival.status_code == 202
        rival_code = await last_code(client)
        assert (await verify(client, first, first_code)).status_code == 200
        late = await verify(client, rival.json()["account_id"], rival_code)
        assert assert_problem(late, 409, "already-registered")["detail"].startswith("An account with this personal")

        same_id = await register(client, ip="198.51.100.61", phone="0911222333")
        same_phone = await register(client, ip="198.51.100.62", personal_id="079190005555")
    assert "personal identification number" in assert_problem(same_id, 409, "already-registered")["detail"]
    assert "phone number" in assert_problem(same_phone, 409, "already-registered")["detail"]


async def test_invalid_input_names_every_field_and_writes_nothing(server) -> None:
    async with server.client() as client:
        bad_ids = await register(client, personal_id="001098012345")
        bad_email = await register(client, email="nope")
        bad_syntax = await register(client, personal_id="00109801234x", phone="0241234567", full_name=" ")
        unallocated = await register(client, phone="0552 345 678")
        weak = await register(client, password="0987654321")
        unknown = await register(client, nickname="Hoa")
        too_long = await register(client, personal_id="0" * 13)
        not_a_date = await register(client, birth_date="08/03/1990")
    body = assert_problem(bad_ids, 422, "validation-failed")
    assert {e["field"] for e in body["errors"]} == {"personal_id"}
    # The e-mail rule is the document's pattern (a local part, @, a dotted domain).
    assert {e["field"] for e in assert_problem(bad_email, 422, "validation-failed")["errors"]} == {"body.email"}
    assert "date of birth" in next(e["message"] for e in body["errors"] if e["field"] == "personal_id")
    # What the OpenAPI document states (patterns, non-empty names) is refused before the use case.
    syntax = assert_problem(bad_syntax, 422, "validation-failed")["errors"]
    assert {e["field"] for e in syntax} == {"body.personal_id", "body.phone", "body.full_name"}
    assert "allocated in Vietnam" in assert_problem(unallocated, 422, "validation-failed")["errors"][0]["message"]
    weak_body = assert_problem(weak, 422, "weak-password")
    assert [e["rule"] for e in weak_body["errors"]] == ["all-digits", "contains-identifier"]
    assert {e["field"] for e in assert_problem(unknown, 422, "validation-failed")["errors"]} == {"body.nickname"}
    assert_problem(too_long, 422, "validation-failed")
    assert_problem(not_a_date, 422, "validation-failed")
    assert await count(server.db, accounts) == 0
    assert await count(server.db, sent_messages) == 0
    assert await outbox_types(server.db) == []


async def test_verifying_an_unknown_registration_is_404_and_bad_bodies_422(server) -> None:
    async with server.client() as client:
        assert_problem(await verify(client, "no-such-account", "123456"), 404, "not-found")
        assert_problem(await client.post("/registrations/verify", json={"account_id": "x"}), 422, "validation-failed")
        assert_problem(
            await client.post("/registrations/verify", json={"account_id": "x", "code": "1" * 17}),
            422, "validation-failed",
        )  # fmt: skip


async def test_the_development_messages_endpoint_validates_the_number(server) -> None:
    async with server.client() as client:
        assert_problem(await client.get("/dev/messages", params={"to": "12"}), 422, "validation-failed")
        assert_problem(await client.get("/dev/messages"), 422, "validation-failed")
        empty = await client.get("/dev/messages", params={"to": "0900000000"})
    assert empty.json() == {"messages": []}


async def test_the_development_messages_endpoint_does_not_exist_in_production(identity_db_url, infra, issuer) -> None:
    from services.identity.app import create_app
    from tests.identity.accounts.support import accounts_settings

    settings = accounts_settings(identity_db_url, infra.bootstrap, issuer.jwks_url)
    # Production as far as the app can tell, but on the test database (production settings
    # refuse loopback URLs, which the test servers are on).
    settings.environment = Environment.PRODUCTION
    with serve(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url + "/api/v1/identity") as client:
            response = await client.get("/dev/messages", params={"to": "0912345678"})
    assert_problem(response, 404, "not-found")


async def test_production_settings_refuse_the_storing_notifier() -> None:
    from pydantic import ValidationError

    from services.identity.settings import IdentitySettings

    with pytest.raises(ValidationError, match="notifier 'store' delivers nothing"):
        IdentitySettings(environment="production", notifier="store")
    with pytest.raises(ValidationError, match="needs notifier_webhook_url"):
        IdentitySettings(notifier="webhook")


# --- enterprise ---------------------------------------------------------------------------

ENTERPRISE = {"tax_code": "0100109106-002", "name": "Chi nhánh Công ty Mẫu", "password": "Doanh-nghiep-2025"}


async def test_a_signed_in_citizen_registers_an_enterprise_it_represents(server) -> None:
    async with server.db.transaction() as uow:
        await seed_cases.seed_accounts(uow, server.settings)
    async with server.client() as client:
        created = await client.post(
            "/registrations/enterprise", json=ENTERPRISE, headers=server.issuer.bearer(SEED_CITIZEN_ID)
        )
        assert created.status_code == 201, created.text
        enterprise_id = created.json()["account_id"]
        again = await client.post(
            "/registrations/enterprise", json=ENTERPRISE, headers=server.issuer.bearer(SEED_CITIZEN_ID)
        )
        by_official = await client.post(
            "/registrations/enterprise", json={**ENTERPRISE, "tax_code": "0100100079"},
            headers=server.issuer.bearer(SEED_OFFICIAL_ID),
        )  # fmt: skip
        anonymous = await client.post("/registrations/enterprise", json=ENTERPRISE)
        bad_code = await client.post(
            "/registrations/enterprise", json={**ENTERPRISE, "tax_code": "0100109107"},
            headers=server.issuer.bearer(SEED_CITIZEN_ID),
        )  # fmt: skip
        me = await client.get("/me", headers=server.issuer.bearer(enterprise_id))
    assert created.json()["status"] == "active"
    assert_problem(again, 409, "already-registered")
    assert_problem(by_official, 403, "forbidden")
    assert_problem(anonymous, 401, "unauthorized")
    assert "check digit" in assert_problem(bad_code, 422, "validation-failed")["errors"][0]["message"]
    assert me.json()["tax_code"] == "0100109106-002" and me.json()["legal_representative_id"] == SEED_CITIZEN_ID
    registered = await outbox_data(server.db, "identity.account.registered.v1")
    assert registered[-1]["legal_representative_id"] == SEED_CITIZEN_ID and registered[-1]["kind"] == "enterprise"
    async with server.db.transaction() as uow:
        signed_in = await sign_in_cases.sign_in(
            uow, server.settings, login="0100109106-002", password=ENTERPRISE["password"], totp_code=None,
            client_ip="203.0.113.1", now=datetime.now(UTC),
        )  # fmt: skip
    assert signed_in.account_id == enterprise_id


async def test_code_length_attempts_password_and_name_limits_come_from_the_settings(serve_accounts) -> None:
    limits = {"code_digits": 8, "code_max_attempts": 2, "password_min_length": 20, "name_max_length": 12}
    with serve_accounts(**limits) as server:
        async with server.client() as client:
            short_password = await register(client)
            long_name = await register(client, password="A much longer passphrase 2025", full_name="Phạm Thị Hoa Hồng")
            started = await register(client, password="A much longer passphrase 2025", full_name="Phạm Thị Hoa")
            messages = (await client.get("/dev/messages", params={"to": PHONE})).json()["messages"]
            code = re.search(r"\b(\d+)\b", messages[0]["body"]).group(1)  # type: ignore[union-attr]
            account_id = started.json()["account_id"]
            first = await verify(client, account_id, f"{(int(code) + 1) % 10**8:08d}")
            second = await verify(client, account_id, f"{(int(code) + 2) % 10**8:08d}")
            exhausted = await verify(client, account_id, code)
    too_short = assert_problem(short_password, 422, "weak-password")["errors"]
    assert too_short == [
        {"field": "password", "rule": "too-short", "message": "The password must have at least 20 characters."}
    ]
    assert assert_problem(long_name, 422, "validation-failed")["errors"] == [
        {"field": "full_name", "message": "A name has 1 to 12 characters."}
    ]
    assert len(code) == 8
    assert [assert_problem(r, 400, "invalid-code")["attempts_left"] for r in (first, second)] == [1, 0]
    assert assert_problem(exhausted, 410, "code-no-longer-valid")["reason"] == "attempts-exhausted"
