"""``sign_in``, the contract the OpenID Connect sign-in page calls, on the real database: logins,
lockout, per-IP throttling, the second factor, the level of assurance, the audit trail, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from services.identity.adapters.accounts import accounts, encrypt_secret, sign_in_audit
from services.identity.api.problems import PROBLEMS
from services.identity.domain.accounts import (
    AccountDisabled,
    AccountLocked,
    InvalidCredentials,
    InvalidSecondFactor,
    RecordedRefusal,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    TooManyAttempts,
)
from services.identity.domain.assurance import AccountKind, Assurance, SignedIn
from services.identity.service import credentials
from services.identity.service import seed as seed_cases
from services.identity.service import sign_in as sign_in_cases
from services.identity.service.accounts import (
    SEED_ADMIN_ID,
    SEED_ADMIN_TOTP,
    SEED_CITIZEN_ID,
    SEED_ENTERPRISE_ID,
    SEED_OFFICIAL_ID,
    SEED_OFFICIAL_TOTP,
)
from services.kit.db import Database
from services.kit.errors import PortalError
from services.kit.problems import problem_for
from tests.identity.accounts.support import outbox_data

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CITIZEN = ("001099012345", "Citizen-Demo-2025")
ENTERPRISE = ("0101234565", "Enterprise-Demo-2025")
OFFICIAL = ("canbo.demo", "Official-Demo-2025")
ADMIN = ("quantri.demo", "Admin-Demo-2025!")


@pytest.fixture
async def seeded(identity_db: Database, settings) -> Database:  # type: ignore[no-untyped-def]
    async with identity_db.transaction() as uow:
        await seed_cases.seed_accounts(uow, settings)
    return identity_db


async def attempt(
    db: Database,
    settings: Any,
    login: str,
    password: str,
    *,
    totp: str | None = None,
    ip: str = "203.0.113.7",
    now: datetime = NOW,
) -> SignedIn:
    """One sign-in as the sign-in page makes it: committed whether it succeeds or is refused."""
    async with db.unit_of_work() as uow:
        try:
            signed_in = await sign_in_cases.sign_in(
                uow, settings, login=login, password=password, totp_code=totp, client_ip=ip, now=now
            )
        except RecordedRefusal:
            await uow.commit()
            raise
        await uow.commit()
        return signed_in


async def audit_rows(db: Database) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        return [dict(r) for r in (await session.execute(select(sign_in_audit).order_by(sign_in_audit.c.id))).mappings()]


async def account_row(db: Database, account_id: str) -> dict[str, Any]:
    async with db.sessions() as session:
        return dict((await session.execute(select(accounts).where(accounts.c.id == account_id))).mappings().one())


async def set_account(db: Database, account_id: str, **values: Any) -> None:
    async with db.transaction() as uow:
        await uow.connection.execute(update(accounts).where(accounts.c.id == account_id).values(**values))


# --- who signs in with what ---------------------------------------------------------------


@pytest.mark.parametrize("login", ["001099012345", "0912345678", "+84912345678", "84 912 345 678"])
async def test_a_citizen_signs_in_with_the_personal_id_or_the_verified_phone(seeded, settings, login) -> None:
    signed_in = await attempt(seeded, settings, login, CITIZEN[1])
    assert signed_in == SignedIn(
        account_id=SEED_CITIZEN_ID, kind=AccountKind.CITIZEN, acr=Assurance.PASSWORD, amr=("pwd",), auth_time=NOW
    )


async def test_an_enterprise_signs_in_with_its_tax_code(seeded, settings) -> None:
    signed_in = await attempt(seeded, settings, *ENTERPRISE)
    assert (signed_in.account_id, signed_in.kind, signed_in.acr) == (
        SEED_ENTERPRISE_ID, AccountKind.ENTERPRISE, Assurance.PASSWORD,
    )  # fmt: skip


async def test_success_records_activity_and_an_audit_row_without_the_password(seeded, settings) -> None:
    await set_account(seeded, SEED_CITIZEN_ID, last_activity_at=NOW - timedelta(days=400), inactivity_warnings=1)
    await attempt(seeded, settings, *CITIZEN)
    row = await account_row(seeded, SEED_CITIZEN_ID)
    assert (row["last_activity_at"], row["last_sign_in_at"], row["inactivity_warnings"]) == (NOW, NOW, 0)
    [audit] = await audit_rows(seeded)
    assert {k: audit[k] for k in ("account_id", "login_masked", "client_ip", "outcome", "reason", "acr", "at")} == {
        "account_id": SEED_CITIZEN_ID, "login_masked": "*********345", "client_ip": "203.0.113.7",
        "outcome": "success", "reason": "password", "acr": Assurance.PASSWORD.value, "at": NOW,
    }  # fmt: skip


# --- failures and lockout -----------------------------------------------------------------


async def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(seeded, settings) -> None:
    with pytest.raises(InvalidCredentials) as wrong:
        await attempt(seeded, settings, CITIZEN[0], "Not-The-Password-1")
    with pytest.raises(InvalidCredentials) as unknown:
        await attempt(seeded, settings, "001099000000", "Not-The-Password-1")
    assert (problem_for(wrong.value, PROBLEMS), wrong.value.detail) == (
        problem_for(unknown.value, PROBLEMS), unknown.value.detail,
    )  # fmt: skip
    assert problem_for(wrong.value, PROBLEMS).status == 401
    assert wrong.value.detail == "The login or the password is not correct."
    rows = await audit_rows(seeded)
    assert [(r["account_id"], r["login_masked"], r["outcome"], r["reason"]) for r in rows] == [
        (SEED_CITIZEN_ID, "*********345", "failure", "wrong-password"),
        (None, "*********000", "failure", "unknown-login"),
    ]
    assert not any("Not-The-Password" in str(v) for r in rows for v in r.values())
    assert (await account_row(seeded, SEED_CITIZEN_ID))["failed_sign_ins"] == 1


async def _answers(db: Database, settings: Any, login: str, password: str, tries: int, ip_prefix: str) -> list[Any]:
    """What each of ``tries`` failing sign-ins answers (status, type, Retry-After), each from
    another address so that only the login's own limit applies."""
    seen = []
    for n in range(tries):
        with pytest.raises(RecordedRefusal) as refused:
            await attempt(db, settings, login, password, ip=f"{ip_prefix}.{n}")
        error = refused.value
        assert isinstance(error, PortalError)
        problem = problem_for(error, PROBLEMS)
        seen.append((problem.status, problem.type, error.detail, problem.headers.get("Retry-After")))
    return seen


@pytest.mark.parametrize(
    ("known", "unknown"),
    [
        (CITIZEN[0], "001099000001"),  # personal identification numbers
        ("0912345678", "0987650001"),  # phone numbers
        (OFFICIAL[0], "canbo.khongco"),  # officials' user names
        (ADMIN[0], "quantri.khongco"),
        (ENTERPRISE[0], "0100109106"),  # tax codes
    ],
)
async def test_the_lockout_answers_an_unknown_login_as_it_answers_an_account(seeded, settings, known, unknown) -> None:
    """After the threshold an account answers 429 "locked"; a login naming no account must too,
    at the same attempt and with the same wait, or the lockout tells which accounts exist."""
    tries = settings.lockout_threshold + 2
    for_account = await _answers(seeded, settings, known, "Wrong-Password-1", tries, "198.51.100")
    for_nobody = await _answers(seeded, settings, unknown, "Wrong-Password-1", tries, "203.0.113")
    assert for_account == for_nobody
    assert [status for status, *_ in for_nobody] == [401] * (settings.lockout_threshold - 1) + [429] * 3
    assert for_nobody[-1][3] == "60"  # locked at the threshold, then the same wait (the clock stands still)
    # Another spelling of the same unknown phone is the same login.
    if unknown.startswith("09"):
        with pytest.raises(AccountLocked):
            await attempt(seeded, settings, "+84" + unknown[1:], "Wrong-Password-1", ip="192.0.2.200")
    # When the lock ends, the next failure locks again for twice as long, for both alike.
    later = []
    for n, login in enumerate((known, unknown)):
        with pytest.raises(AccountLocked) as again:
            await attempt(
                seeded, settings, login, "Wrong-Password-1", ip=f"192.0.2.{201 + n}", now=NOW + timedelta(seconds=61)
            )
        later.append(problem_for(again.value, PROBLEMS).headers)
    assert later == [{"Retry-After": "120"}] * 2


async def test_an_unknown_login_costs_as_much_hashing_as_a_known_one(
    seeded, identity_db_url, infra, issuer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Each attempt runs one argon2 verification with the same costs, the account known or not
    (what argon2 was asked, not a stopwatch: the machine's noise cannot make it pass or fail)."""
    import argon2

    from tests.identity.accounts.support import accounts_settings

    costly = accounts_settings(
        identity_db_url, infra.bootstrap, issuer.jwks_url,
        password_hash_time_cost=4, password_hash_memory_kib=16 * 1024, password_hash_parallelism=1,
    )  # fmt: skip
    await set_account(seeded, SEED_CITIZEN_ID, password_hash=credentials.hashing(costly).hash("Citizen-Demo-2025"))
    verified: list[argon2.Parameters] = []
    original = argon2.PasswordHasher.verify

    def counted(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(argon2.extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counted)

    async def costs(login: str) -> list[argon2.Parameters]:
        verified.clear()
        with pytest.raises(InvalidCredentials):
            await attempt(seeded, costly, login, "Not-The-Password-1", ip=f"198.51.100.{len(login)}")
        return list(verified)

    known, unknown = await costs(CITIZEN[0]), await costs("001099000000")
    assert len(known) == 1 and known == unknown
    assert (known[0].time_cost, known[0].memory_cost, known[0].parallelism) == (4, 16 * 1024, 1)


async def test_failures_lock_the_account_progressively_and_success_resets(seeded, settings) -> None:
    login, password = CITIZEN
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await attempt(seeded, settings, login, "Wrong-Password-1")
    with pytest.raises(AccountLocked) as first:
        await attempt(seeded, settings, login, "Wrong-Password-1")
    assert first.value.retry_after_seconds == 60
    assert problem_for(first.value, PROBLEMS).headers == {"Retry-After": "60"}

    # While locked, even the right password is refused, and the wait shrinks with time.
    with pytest.raises(AccountLocked) as still:
        await attempt(seeded, settings, login, password, now=NOW + timedelta(seconds=20))
    assert still.value.retry_after_seconds == 40

    later = NOW + timedelta(seconds=61)
    with pytest.raises(AccountLocked) as second:
        await attempt(seeded, settings, login, "Wrong-Password-1", now=later)
    assert second.value.retry_after_seconds == 120
    with pytest.raises(AccountLocked) as third:
        await attempt(seeded, settings, "0912345678", "Wrong-Password-1", now=later + timedelta(seconds=121))
    assert third.value.retry_after_seconds == 240  # the same account, whatever login names it

    after = later + timedelta(seconds=121 + 241)
    assert (await attempt(seeded, settings, login, password, now=after)).account_id == SEED_CITIZEN_ID
    row = await account_row(seeded, SEED_CITIZEN_ID)
    assert (row["failed_sign_ins"], row["locked_until"]) == (0, None)

    locks = await outbox_data(seeded, "identity.account.locked.v1")
    assert [(e["reason"], e["_key"], e["kind"]) for e in locks] == [("lockout", SEED_CITIZEN_ID, "citizen")] * 3
    assert locks[0]["locked_until"].startswith((NOW + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S"))
    outcomes = [(r["outcome"], r["reason"]) for r in await audit_rows(seeded)]
    assert outcomes.count(("failure", "wrong-password")) == 7
    assert outcomes.count(("refused", "locked-out")) == 1
    assert outcomes[-1] == ("success", "password")


async def test_the_lockout_limits_come_from_the_settings(seeded, identity_db_url, infra, issuer) -> None:
    from tests.identity.accounts.support import accounts_settings

    strict = accounts_settings(
        identity_db_url, infra.bootstrap, issuer.jwks_url, lockout_threshold=2, lockout_base_seconds=10,
        lockout_max_seconds=15,
    )  # fmt: skip
    with pytest.raises(InvalidCredentials):
        await attempt(seeded, strict, CITIZEN[0], "Wrong-Password-1")
    with pytest.raises(AccountLocked) as first:
        await attempt(seeded, strict, CITIZEN[0], "Wrong-Password-1")
    with pytest.raises(AccountLocked) as capped:
        await attempt(seeded, strict, CITIZEN[0], "Wrong-Password-1", now=NOW + timedelta(seconds=11))
    assert (first.value.retry_after_seconds, capped.value.retry_after_seconds) == (10, 15)


async def test_too_many_failures_from_one_address_are_throttled(seeded, identity_db_url, infra, issuer) -> None:
    from tests.identity.accounts.support import accounts_settings

    settings = accounts_settings(
        identity_db_url, infra.bootstrap, issuer.jwks_url, sign_in_ip_max_failures=3, sign_in_ip_window_seconds=300
    )
    for n in range(3):
        with pytest.raises(InvalidCredentials):
            await attempt(seeded, settings, f"00109900000{n}", "Wrong-Password-1", ip="192.0.2.1", now=NOW)
    with pytest.raises(TooManyAttempts) as throttled:
        await attempt(seeded, settings, *CITIZEN, ip="192.0.2.1", now=NOW + timedelta(seconds=100))
    answer = problem_for(throttled.value, PROBLEMS)
    assert answer.status == 429 and answer.type == "too-many-attempts"
    assert throttled.value.retry_after_seconds == 200 and answer.headers == {"Retry-After": "200"}
    # Another address is not affected; the first may try again once the window has passed.
    assert (await attempt(seeded, settings, *CITIZEN, ip="192.0.2.2", now=NOW + timedelta(seconds=100))).account_id
    assert (await attempt(seeded, settings, *CITIZEN, ip="192.0.2.1", now=NOW + timedelta(seconds=301))).account_id
    reasons = [(r["client_ip"], r["outcome"]) for r in await audit_rows(seeded)]
    assert reasons.count(("192.0.2.1", "throttled")) == 1
    # The throttled attempt did not touch the account's failure count.
    assert (await account_row(seeded, SEED_CITIZEN_ID))["failed_sign_ins"] == 0


async def test_a_locked_or_disabled_account_is_refused_only_after_the_right_password(seeded, settings) -> None:
    await set_account(seeded, SEED_CITIZEN_ID, status="locked", locked_reason="inactivity")
    with pytest.raises(InvalidCredentials):
        await attempt(seeded, settings, CITIZEN[0], "Wrong-Password-1")
    with pytest.raises(AccountDisabled) as locked:
        await attempt(seeded, settings, *CITIZEN)
    answer = problem_for(locked.value, PROBLEMS)
    assert (answer.status, answer.type, locked.value.extra["reason"]) == (
        403,
        "account-disabled",
        "inactivity",
    )
    assert "Reset the password" in str(locked.value.detail)
    await set_account(seeded, SEED_CITIZEN_ID, status="disabled", locked_reason=None)
    with pytest.raises(AccountDisabled) as disabled:
        await attempt(seeded, settings, *CITIZEN)
    assert disabled.value.detail == "This account is disabled."


# --- second factor and assurance ----------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "secret", "account_id", "kind"),
    [(OFFICIAL, SEED_OFFICIAL_TOTP, SEED_OFFICIAL_ID, AccountKind.OFFICIAL),
     (ADMIN, SEED_ADMIN_TOTP, SEED_ADMIN_ID, AccountKind.ADMIN)],
)  # fmt: skip
async def test_officials_and_admins_need_their_totp_code(seeded, settings, login, secret, account_id, kind) -> None:
    with pytest.raises(SecondFactorRequired) as required:
        await attempt(seeded, settings, *login)
    answer = problem_for(required.value, PROBLEMS)
    assert (answer.status, answer.type) == (401, "second-factor-required")
    assert not isinstance(required.value, InvalidSecondFactor)

    with pytest.raises(InvalidSecondFactor) as wrong:
        await attempt(seeded, settings, *login, totp=pyotp.TOTP(secret).at(NOW - timedelta(minutes=5)))
    assert problem_for(wrong.value, PROBLEMS).type == "second-factor-required"
    assert wrong.value.extra == {"second_factor": "invalid"}
    assert (await account_row(seeded, account_id))["failed_sign_ins"] == 1

    code = pyotp.TOTP(secret).at(NOW)
    signed_in = await attempt(seeded, settings, *login, totp=code)
    assert (signed_in.kind, signed_in.acr, signed_in.amr) == (kind, Assurance.SECOND_FACTOR, ("pwd", "otp"))
    if kind is AccountKind.OFFICIAL:
        assert (signed_in.agencies, signed_in.roles) == (("000.00.01.H22",), ("dossier-processor",))

    with pytest.raises(InvalidSecondFactor):  # the same code again, still inside its window
        await attempt(seeded, settings, *login, totp=code, now=NOW + timedelta(seconds=5))
    outcomes = [(r["outcome"], r["reason"]) for r in await audit_rows(seeded)]
    assert outcomes == [
        ("refused", "second-factor-required"), ("failure", "wrong-second-factor"),
        ("success", "password+totp"), ("failure", "wrong-second-factor"),
    ]  # fmt: skip


async def test_an_official_without_a_second_factor_cannot_sign_in(seeded, settings) -> None:
    await set_account(seeded, SEED_OFFICIAL_ID, totp_secret=None)
    with pytest.raises(SecondFactorNotEnrolled) as refused:
        await attempt(seeded, settings, *OFFICIAL, totp="123456")
    answer = problem_for(refused.value, PROBLEMS)
    assert (answer.status, answer.type) == (403, "second-factor-not-enrolled")
    assert "authenticator app" in str(refused.value.detail)


async def test_a_citizen_verified_in_person_with_a_second_factor_reaches_the_top_level(seeded, settings) -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    await set_account(seeded, SEED_CITIZEN_ID, totp_secret=encrypt_secret("", secret))
    with pytest.raises(SecondFactorRequired):  # once enrolled, the second factor is always asked
        await attempt(seeded, settings, *CITIZEN)
    signed_in = await attempt(seeded, settings, *CITIZEN, totp=pyotp.TOTP(secret).at(NOW))
    assert (signed_in.acr, signed_in.amr) == (Assurance.IN_PERSON, ("pwd", "otp"))
    await set_account(seeded, SEED_CITIZEN_ID, verified_in_person=False)
    later = NOW + timedelta(seconds=30)
    signed_in = await attempt(seeded, settings, *CITIZEN, totp=pyotp.TOTP(secret).at(later), now=later)
    assert signed_in.acr is Assurance.SECOND_FACTOR


async def test_a_hash_made_with_weaker_costs_is_upgraded_at_sign_in(seeded, identity_db_url, infra, issuer) -> None:
    from tests.identity.accounts.support import accounts_settings

    stronger = accounts_settings(identity_db_url, infra.bootstrap, issuer.jwks_url, password_hash_time_cost=2)
    assert (await account_row(seeded, SEED_CITIZEN_ID))["password_hash"].startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    await attempt(seeded, stronger, *CITIZEN)
    assert (await account_row(seeded, SEED_CITIZEN_ID))["password_hash"].startswith("$argon2id$v=19$m=1024,t=2,p=1$")
    assert (await attempt(seeded, stronger, *CITIZEN, now=NOW + timedelta(seconds=1))).account_id == SEED_CITIZEN_ID
