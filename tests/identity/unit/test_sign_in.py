"""Sign-in on the fake unit: the order of checks, the lockout after failures (for logins that
name no account too, counted under every form of the login), the second factor, the audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.events.identity_accounts import AccountLocked as AccountLockedEvent
from services.identity.adapters.accounts import encrypt_secret
from services.identity.domain import second_factor
from services.identity.domain.accounts import (
    AccountDisabled,
    AccountLocked,
    AccountStatus,
    InvalidCredentials,
    InvalidSecondFactor,
    LockReason,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    TooManyAttempts,
)
from services.identity.domain.assurance import AccountKind, Assurance
from services.identity.service.sign_in import sign_in
from tests.identity.unit.conftest import CITIZEN_PASSWORD, NOW, PERSONAL_ID, add_citizen, make_settings, stored

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def attempt(uow, settings, login=PERSONAL_ID, password=CITIZEN_PASSWORD, totp=None, now=NOW, ip="203.0.113.5"):  # type: ignore[no-untyped-def]
    return await sign_in(uow, settings, login=login, password=password, totp_code=totp, client_ip=ip, now=now)


async def test_a_sign_in_resets_the_failures_and_counts_as_activity(uow, settings) -> None:
    await add_citizen(uow, settings, failed_sign_ins=3, inactivity_warnings=1, last_activity_at=NOW - timedelta(days=9))
    signed_in = await attempt(uow, settings, login="0912345678")  # the phone, spelled locally

    assert signed_in.account_id == "citizen-1" and signed_in.acr is Assurance.PASSWORD and signed_in.amr == ("pwd",)
    account = stored(uow)
    assert (account.failed_sign_ins, account.inactivity_warnings, account.last_activity_at) == (0, 0, NOW)
    assert account.last_sign_in_at == NOW
    assert uow.audit.outcomes() == [("success", "password")]
    assert uow.audit.rows[0].login_masked != "0912345678"  # never the login in clear


async def test_wrong_passwords_lock_the_account_out_with_an_event(uow, settings) -> None:
    await add_citizen(uow, settings)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await attempt(uow, settings, password="Not-the-password-1")
    with pytest.raises(AccountLocked) as locked:
        await attempt(uow, settings, password="Not-the-password-1")
    await uow.commit()  # what the request's unit does with a recorded refusal

    assert locked.value.extra["retry_after_seconds"] == 60
    account = stored(uow)
    assert account.failed_sign_ins == 5 and account.locked_until == NOW + timedelta(seconds=60)
    [event] = uow.emitted
    assert event.type == AccountLockedEvent.TYPE
    assert event.data["reason"] == "lockout" and event.data["kind"] == "citizen"
    # Locked out: even the right password waits, and the refusal says how long.
    with pytest.raises(AccountLocked):
        await attempt(uow, settings, now=NOW + timedelta(seconds=30))
    assert await attempt(uow, settings, now=NOW + timedelta(seconds=61))
    assert [o for o, _ in uow.audit.outcomes()] == ["failure"] * 5 + ["refused", "success"]


async def test_an_unknown_login_is_counted_and_locked_out_like_an_account(uow, settings) -> None:
    for login in ("0987654321", "+84987654321", "0987 654 321", "0987654321"):  # one login, spelled four ways
        with pytest.raises(InvalidCredentials):
            await attempt(uow, settings, login=login, password="Whatever-it-is-1")
    with pytest.raises(AccountLocked) as locked:
        await attempt(uow, settings, login="+84 987 654 321", password="Whatever-it-is-1")
    assert locked.value.extra["retry_after_seconds"] == 60
    with pytest.raises(AccountLocked):  # the lockout holds for every spelling
        await attempt(uow, settings, login="0987654321", password="Whatever-it-is-1", now=NOW + timedelta(seconds=5))
    assert all(until == NOW + timedelta(seconds=60) for _, until in uow.login_failures.rows.values())
    assert [r for _, r in uow.audit.outcomes()] == ["unknown-login"] * 5 + ["locked-out"]
    assert all(r.account_id is None for r in uow.audit.rows)
    assert uow.emitted == [] and uow.accounts.rows == {}


async def test_too_many_failures_from_one_address_are_throttled(uow) -> None:
    settings = make_settings(sign_in_ip_max_failures=3)
    for n in range(3):
        with pytest.raises(InvalidCredentials):
            await attempt(uow, settings, login=f"unknown.{n}", password="Whatever-it-is-1")
    with pytest.raises(TooManyAttempts):
        await attempt(uow, settings, login="unknown.9", password="Whatever-it-is-1")
    with pytest.raises(InvalidCredentials):  # another address is not throttled
        await attempt(uow, settings, login="unknown.9", ip="198.51.100.7", password="Whatever-it-is-1")
    assert uow.audit.outcomes()[-2:] == [("throttled", "client-ip"), ("failure", "unknown-login")]


async def test_a_locked_account_is_refused_after_its_password(uow, settings) -> None:
    await add_citizen(uow, settings, status=AccountStatus.LOCKED, locked_reason=LockReason.INACTIVITY)
    with pytest.raises(InvalidCredentials):
        await attempt(uow, settings, password="Not-the-password-1")  # the status is not revealed to a guess
    with pytest.raises(AccountDisabled) as disabled:
        await attempt(uow, settings)
    assert disabled.value.extra["reason"] == "inactivity"


async def test_officials_need_a_valid_unused_totp_code(uow, settings) -> None:
    secret = encrypt_secret(settings.accounts_secret_key.get_secret_value(), TOTP)
    await add_citizen(
        uow, settings, kind=AccountKind.OFFICIAL, personal_id=None, username="canbo.demo", totp_secret=secret,
        totp_enrolled=True, agencies=("000.00.01.H22",),
    )  # fmt: skip
    code = second_factor.code_at(TOTP, second_factor.time_step(NOW))
    with pytest.raises(SecondFactorRequired):
        await attempt(uow, settings, login="canbo.demo")
    with pytest.raises(InvalidSecondFactor):
        await attempt(uow, settings, login="canbo.demo", totp="000000" if code != "000000" else "111111")
    assert stored(uow).failed_sign_ins == 1  # a wrong code counts towards the lockout

    signed_in = await attempt(uow, settings, login="canbo.demo", totp=code)
    assert signed_in.acr is Assurance.SECOND_FACTOR and signed_in.amr == ("pwd", "otp")
    assert signed_in.agencies == ("000.00.01.H22",)
    assert stored(uow).totp_last_step == second_factor.time_step(NOW)
    with pytest.raises(InvalidSecondFactor):  # the same code again is a replay
        await attempt(uow, settings, login="canbo.demo", totp=code, now=NOW + timedelta(seconds=5))


async def test_an_official_without_a_second_factor_cannot_sign_in(uow, settings) -> None:
    await add_citizen(uow, settings, kind=AccountKind.OFFICIAL, personal_id=None, username="canbo.demo")
    with pytest.raises(SecondFactorNotEnrolled):
        await attempt(uow, settings, login="canbo.demo", totp="123456")
    assert uow.audit.outcomes() == [("refused", "second-factor-not-enrolled")]
