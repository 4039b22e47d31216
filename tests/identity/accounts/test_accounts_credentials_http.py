"""Passwords (change, reset by phone code), TOTP enrolment, the own profile and administrator
locks, over real HTTP with bearer tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pyotp
import pytest
from sqlalchemy import select, update

from services.identity.adapters.accounts import accounts, sent_messages
from services.identity.domain.accounts import (
    AccountDisabled,
    InvalidCredentials,
    RecordedRefusal,
    SecondFactorRequired,
)
from services.identity.domain.assurance import Assurance, SignedIn
from services.identity.service import accounts as use_cases
from services.identity.service import credentials
from services.identity.service import seed as seed_cases
from services.identity.service import sign_in as sign_in_cases
from services.identity.service.accounts import SEED_ADMIN_ID, SEED_CITIZEN_ID, SEED_ENTERPRISE_ID
from tests.identity.accounts.support import Server, assert_problem, count, outbox_data, outbox_types

pytestmark = pytest.mark.integration

CITIZEN_LOGIN, CITIZEN_PASSWORD, CITIZEN_PHONE = "001099012345", "Citizen-Demo-2025", "+84912345678"


@pytest.fixture
async def seeded(server: Server) -> Server:
    async with server.db.transaction() as uow:
        await seed_cases.seed_accounts(uow, server.settings)
    return server


async def sign_in(server: Server, login: str, password: str, totp: str | None = None) -> SignedIn:
    async with server.db.unit_of_work() as uow:
        try:
            return await sign_in_cases.sign_in(
                uow, server.settings, login=login, password=password, totp_code=totp, client_ip="203.0.113.5",
                now=datetime.now(UTC),
            )  # fmt: skip
        finally:
            await uow.commit()


async def failed_sign_ins(server: Server, account_id: str) -> int:
    async with server.db.sessions() as session:
        return await session.scalar(select(accounts.c.failed_sign_ins).where(accounts.c.id == account_id))  # type: ignore[return-value]


async def last_code(client: httpx.AsyncClient, phone: str) -> str:
    newest = (await client.get("/dev/messages", params={"to": phone})).json()["messages"][0]
    return re.search(r"\b(\d{6})\b", newest["body"]).group(1)  # type: ignore[union-attr]


# --- password change ----------------------------------------------------------------------


async def test_a_password_change_needs_the_current_password_and_a_good_new_one(seeded) -> None:
    me = seeded.issuer.bearer(SEED_CITIZEN_ID)
    async with seeded.client() as client:
        wrong = await client.post(
            "/password/change", json={"current_password": "Not-It-At-All", "new_password": "Mưa-rơi trên phố 7"},
            headers=me,
        )  # fmt: skip
        weak = await client.post(
            "/password/change", json={"current_password": CITIZEN_PASSWORD, "new_password": "x001099012345"},
            headers=me,
        )  # fmt: skip
        anonymous = await client.post(
            "/password/change", json={"current_password": CITIZEN_PASSWORD, "new_password": "Mưa-rơi trên phố 7"}
        )
        changed = await client.post(
            "/password/change", json={"current_password": CITIZEN_PASSWORD, "new_password": "Mưa-rơi trên phố 7"},
            headers=me,
        )  # fmt: skip
    assert_problem(wrong, 403, "wrong-password")
    assert [e["rule"] for e in assert_problem(weak, 422, "weak-password")["errors"]] == ["contains-identifier"]
    assert_problem(anonymous, 401, "unauthorized")
    assert changed.status_code == 204
    assert await failed_sign_ins(seeded, SEED_CITIZEN_ID) == 0  # the wrong attempt counted, success reset it
    with pytest.raises(InvalidCredentials):
        await sign_in(seeded, CITIZEN_LOGIN, CITIZEN_PASSWORD)
    assert (await sign_in(seeded, CITIZEN_LOGIN, "Mưa-rơi trên phố 7")).account_id == SEED_CITIZEN_ID
    assert await outbox_types(seeded.db) == ["identity.account.registered.v1"] * 4  # the fixtures; nothing for a change


async def test_a_password_is_exactly_what_was_typed_spaces_included(seeded) -> None:
    """NIST SP 800-63B: no silent change to a password. Spaces around it are kept, a password of
    spaces is judged by the policy like any other, and a hash stored before (of a password then
    stripped) still signs in when typed as it was stored."""
    me = seeded.issuer.bearer(SEED_CITIZEN_ID)
    spaced, only_spaces = "  Mưa-rơi trên phố 7  ", " " * 12
    async with seeded.client() as client:
        short = await client.post(
            "/password/change", json={"current_password": CITIZEN_PASSWORD, "new_password": "   "}, headers=me
        )
        changed = await client.post(
            "/password/change", json={"current_password": CITIZEN_PASSWORD, "new_password": spaced}, headers=me
        )
        stripped_as_current = await client.post(
            "/password/change", json={"current_password": spaced.strip(), "new_password": only_spaces}, headers=me
        )
        to_spaces = await client.post(
            "/password/change", json={"current_password": spaced, "new_password": only_spaces}, headers=me
        )
    # "   " is a password too: too short by the policy, not "missing".
    assert [e["rule"] for e in assert_problem(short, 422, "weak-password")["errors"]] == ["too-short"]
    assert changed.status_code == 204, changed.text
    assert_problem(stripped_as_current, 403, "wrong-password")
    assert to_spaces.status_code == 204, to_spaces.text
    with pytest.raises(InvalidCredentials):
        await sign_in(seeded, CITIZEN_LOGIN, " " * 11)
    assert (await sign_in(seeded, CITIZEN_LOGIN, only_spaces)).account_id == SEED_CITIZEN_ID
    # A hash made before the change, of a password that was stripped then: typed as stored, it works.
    async with seeded.db.transaction() as uow:
        stored = await credentials.hash_password(seeded.settings, "Old-Stripped-Pass 9")
        citizen_row = accounts.c.id == SEED_CITIZEN_ID
        await uow.connection.execute(update(accounts).where(citizen_row).values(password_hash=stored))
    assert (await sign_in(seeded, CITIZEN_LOGIN, "Old-Stripped-Pass 9")).account_id == SEED_CITIZEN_ID


async def test_wrong_current_passwords_count_towards_the_lockout(seeded) -> None:
    me = seeded.issuer.bearer(SEED_CITIZEN_ID)
    body = {"current_password": "Not-It-At-All", "new_password": "Mưa-rơi trên phố 7"}
    async with seeded.client() as client:
        answers = [await client.post("/password/change", json=body, headers=me) for _ in range(5)]
        locked = await client.post("/password/change", json={**body, "current_password": CITIZEN_PASSWORD}, headers=me)
    assert [a.status_code for a in answers] == [403, 403, 403, 403, 429]
    problem = assert_problem(locked, 429, "account-locked")
    assert 1 <= problem["retry_after_seconds"] <= 60 and locked.headers["retry-after"] == str(
        problem["retry_after_seconds"]
    )


# --- password reset -----------------------------------------------------------------------


async def test_a_password_is_reset_with_a_code_sent_to_the_phone(seeded) -> None:
    async with seeded.client() as client:
        started = await client.post("/password/reset", json={"phone": "0912 345 678"})
        assert started.status_code == 202, started.text
        reset_id = started.json()["reset_id"]
        code = await last_code(client, CITIZEN_PHONE)
        weak = await client.post(
            "/password/reset/complete", json={"reset_id": reset_id, "code": code, "new_password": "short"}
        )
        wrong = await client.post(
            "/password/reset/complete",
            json={"reset_id": reset_id, "code": f"{(int(code) + 1) % 10**6:06d}", "new_password": "Trời-xanh mây 2025"},
        )
        done = await client.post(
            "/password/reset/complete", json={"reset_id": reset_id, "code": code, "new_password": "Trời-xanh mây 2025"}
        )
        again = await client.post(
            "/password/reset/complete", json={"reset_id": reset_id, "code": code, "new_password": "Other-Pass-2025"}
        )
    assert_problem(weak, 422, "weak-password")  # the code stays usable after a refused password
    assert assert_problem(wrong, 400, "invalid-code")["attempts_left"] == 4
    assert done.status_code == 204
    assert assert_problem(again, 410, "code-no-longer-valid")["reason"] == "used"
    assert (await sign_in(seeded, CITIZEN_LOGIN, "Trời-xanh mây 2025")).account_id == SEED_CITIZEN_ID


async def test_a_reset_for_an_unknown_phone_looks_the_same_but_sends_nothing(seeded) -> None:
    async with seeded.client() as client:
        started = await client.post("/password/reset", json={"phone": "0933333333"})
        assert started.status_code == 202 and set(started.json()) == {"reset_id", "code_expires_at"}
        guess = await client.post(
            "/password/reset/complete",
            json={"reset_id": started.json()["reset_id"], "code": "123456", "new_password": "Trời-xanh mây 2025"},
        )
        bad_phone = await client.post("/password/reset", json={"phone": "12345"})
    assert guess.status_code == 400 and guess.json()["type"] == "/problems/invalid-code"
    assert await count(seeded.db, sent_messages, sent_messages.c.recipient == "+84933333333") == 0
    assert_problem(bad_phone, 422, "validation-failed")


async def test_a_reset_unlocks_an_account_locked_for_inactivity(seeded) -> None:
    async with seeded.db.transaction() as uow:
        await uow.connection.execute(
            update(accounts).where(accounts.c.id == SEED_CITIZEN_ID).values(status="locked", locked_reason="inactivity")
        )
    async with seeded.client() as client:
        reset_id = (await client.post("/password/reset", json={"phone": CITIZEN_PHONE})).json()["reset_id"]
        code = await last_code(client, CITIZEN_PHONE)
        done = await client.post(
            "/password/reset/complete", json={"reset_id": reset_id, "code": code, "new_password": "Trời-xanh mây 2025"}
        )
    assert done.status_code == 204
    [unlocked] = await outbox_data(seeded.db, "identity.account.unlocked.v1")
    assert (unlocked["account_id"], unlocked["reason"], unlocked["kind"]) == (
        SEED_CITIZEN_ID,
        "password-reset",
        "citizen",
    )
    assert (await sign_in(seeded, CITIZEN_LOGIN, "Trời-xanh mây 2025")).account_id == SEED_CITIZEN_ID


# --- TOTP enrolment -----------------------------------------------------------------------


async def test_a_citizen_enrols_a_totp_second_factor(seeded) -> None:
    me = seeded.issuer.bearer(SEED_CITIZEN_ID)
    async with seeded.client() as client:
        begun = await client.post("/totp/enrolment", headers=me)
        assert begun.status_code == 200 and begun.headers["cache-control"] == "no-store"
        secret = begun.json()["secret"]
        assert (
            begun.json()["otpauth_uri"].startswith("otpauth://totp/")
            and f"secret={secret}" in begun.json()["otpauth_uri"]
        )
        assert (begun.json()["digits"], begun.json()["period"]) == (6, 30)
        wrong = await client.post("/totp/enrolment/confirm", json={"code": "000000"}, headers=me)
        # Until confirmed, sign-in does not ask for it.
        assert (await sign_in(seeded, CITIZEN_LOGIN, CITIZEN_PASSWORD)).acr is Assurance.PASSWORD
        confirmed = await client.post("/totp/enrolment/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=me)
        twice = await client.post("/totp/enrolment", headers=me)
        profile = (await client.get("/me", headers=me)).json()
    assert_problem(wrong, 403, "wrong-totp-code")  # a well-formed code that does not match
    assert confirmed.status_code == 204
    assert_problem(twice, 409, "conflict")
    assert profile["second_factor_enrolled"] is True
    with pytest.raises(SecondFactorRequired):
        await sign_in(seeded, CITIZEN_LOGIN, CITIZEN_PASSWORD)
    # The code used to confirm cannot be replayed at sign-in; the next step's code works.
    later = pyotp.TOTP(secret).at(datetime.now(UTC).timestamp() + 30)
    signed_in = await sign_in(seeded, CITIZEN_LOGIN, CITIZEN_PASSWORD, totp=later)
    assert (signed_in.acr, signed_in.amr) == (Assurance.IN_PERSON, ("pwd", "otp"))  # the fixture is verified in person


async def test_confirming_without_starting_is_a_conflict(seeded) -> None:
    async with seeded.client() as client:
        response = await client.post(
            "/totp/enrolment/confirm", json={"code": "123456"}, headers=seeded.issuer.bearer(SEED_ENTERPRISE_ID)
        )
    assert_problem(response, 409, "conflict")


# --- own profile and administration -------------------------------------------------------


async def test_the_own_profile_needs_a_token_for_an_account(seeded) -> None:
    async with seeded.client() as client:
        assert_problem(await client.get("/me"), 401, "unauthorized")
        assert_problem(await client.get("/me", headers=seeded.issuer.bearer("no-such-account")), 404, "not-found")
        foreign = seeded.issuer.bearer(SEED_CITIZEN_ID, audience="dossier")
        assert_problem(await client.get("/me", headers=foreign), 401, "unauthorized")
        enterprise = (await client.get("/me", headers=seeded.issuer.bearer(SEED_ENTERPRISE_ID))).json()
    assert enterprise["kind"] == "enterprise" and enterprise["personal_id"] is None and enterprise["phone"] is None


async def test_an_administrator_locks_and_unlocks_an_account(seeded) -> None:
    admin = seeded.issuer.bearer(SEED_ADMIN_ID, scope="identity:admin")
    async with seeded.client() as client:
        not_admin = await client.post(f"/accounts/{SEED_CITIZEN_ID}/lock", headers=seeded.issuer.bearer(SEED_ADMIN_ID))
        locked = await client.post(f"/accounts/{SEED_CITIZEN_ID}/lock", headers=admin)
        with pytest.raises(AccountDisabled) as refused:
            await sign_in(seeded, CITIZEN_LOGIN, CITIZEN_PASSWORD)
        async with seeded.db.transaction() as uow:
            assert not await use_cases.account_is_active(uow, SEED_CITIZEN_ID)
        unlocked = await client.post(f"/accounts/{SEED_CITIZEN_ID}/unlock", headers=admin)
        missing = await client.post("/accounts/nobody/lock", headers=admin)
    assert_problem(not_admin, 403, "forbidden")
    assert locked.status_code == 204 and unlocked.status_code == 204
    assert refused.value.extra["reason"] == "admin"
    assert_problem(missing, 404, "not-found")
    assert (await sign_in(seeded, CITIZEN_LOGIN, CITIZEN_PASSWORD)).account_id == SEED_CITIZEN_ID
    [lock] = await outbox_data(seeded.db, "identity.account.locked.v1")
    [unlock] = await outbox_data(seeded.db, "identity.account.unlocked.v1")
    assert (lock["reason"], lock["locked_until"], unlock["reason"]) == ("admin", None, "admin")


async def test_refusals_are_committed_by_the_caller(seeded) -> None:
    """The contract the sign-in page relies on: every refusal of sign_in is a RecordedRefusal."""
    with pytest.raises(RecordedRefusal):
        await sign_in(seeded, CITIZEN_LOGIN, "Not-It-At-All")
    assert await failed_sign_ins(seeded, SEED_CITIZEN_ID) == 1
