"""The pure rules of accounts: identifiers, password policy, lockout, limits, scopes, assurance,
one-time codes, TOTP, inactivity. No database, no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyotp
import pytest

from services.identity.api.problems import PROBLEMS
from services.identity.domain import identifiers, second_factor
from services.identity.domain.accounts import (
    GRANTABLE_SCOPES,
    Account,
    AccountLocked,
    AccountStatus,
    CodeNoLongerValid,
    InactivityAction,
    InactivityPolicy,
    InvalidCode,
    LockoutPolicy,
    RecordedRefusal,
    WindowLimit,
    assurance,
)
from services.identity.domain.assurance import AccountKind, Assurance
from services.identity.domain.identifiers import InvalidIdentifier, LoginKind
from services.identity.domain.one_time_codes import IssuedCode, check_code, code_hash, new_code
from services.identity.domain.passwords import PasswordPolicy, WeakPassword
from services.kit.problems import problem_for

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


# --- identifiers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "born"),
    [
        ("001099012345", date(1999, 5, 15)),  # Hà Nội, male, 1999
        ("079185000123", date(1985, 1, 1)),  # Hồ Chí Minh City, female (1), 1985
        ("096203004567", date(2003, 12, 31)),  # Cà Mau, male born in 2003 (2)
        ("048200000001", date(2000, 2, 29)),  # Đà Nẵng, male born in 2000 (2)
    ],
)
def test_valid_personal_identification_numbers_are_accepted(value: str, born: date) -> None:
    assert identifiers.personal_id(value, born) == value
    assert identifiers.birth_year(value) == born.year


@pytest.mark.parametrize(
    ("value", "born", "why"),
    [
        ("00109901234", None, "exactly 12 digits"),
        ("0010990123456", None, "exactly 12 digits"),
        ("00109901234a", None, "exactly 12 digits"),
        ("000099012345", None, "000 is not a province code"),
        ("003099012345", None, "003 is not a province code"),  # a gap in the real numbering
        ("097099012345", None, "097 is not a province code"),
        ("001099012345", date(1998, 5, 15), "do not match the date of birth"),  # year 99 vs 98
        ("001299012345", date(1999, 5, 15), "do not match the date of birth"),  # century 2000s vs 1999
    ],
)
def test_invalid_personal_identification_numbers_are_refused(value: str, born: date | None, why: str) -> None:
    with pytest.raises(InvalidIdentifier, match=why):
        identifiers.personal_id(value, born)


@pytest.mark.parametrize("value", ["0100109106", "0100100079", "0101234565", "0101234565-001", "0100109106-999"])
def test_valid_tax_codes_are_accepted(value: str) -> None:
    assert identifiers.tax_code(value) == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0100109107", "check digit"),
        ("010010910", "10 digits"),
        ("01001091066", "10 digits"),
        ("0100109106-01", "10 digits"),
        ("0100109106_001", "10 digits"),
        ("0100109106-000", "001 to 999"),
        ("0109999990", "check digit"),  # its first nine digits admit no check digit
    ],
)
def test_invalid_tax_codes_are_refused(value: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier, match=why):
        identifiers.tax_code(value)


def test_a_tax_code_without_a_possible_check_digit_is_recognised() -> None:
    assert identifiers.tax_code_check_digit("010999999") is None


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("0912345678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("84 912 345 678", "+84912345678"),
        ("091.234.5678", "+84912345678"),
        ("0321-234-567", "+84321234567"),
        ("0586123456", "+84586123456"),
    ],
)
def test_mobile_numbers_are_normalised_to_e164(value: str, e164: str) -> None:
    assert identifiers.phone(value) == e164


@pytest.mark.parametrize("value", ["0241234567", "091234567", "09123456789", "+1 202 555 0100", "0912a45678", ""])
def test_numbers_that_are_not_vietnamese_mobiles_are_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="mobile number"):
        identifiers.phone(value)


@pytest.mark.parametrize("value", ["0552345678", "0992345678", "0892345678", "+84 55 234 5678"])
def test_a_mobile_number_in_a_range_no_operator_was_given_is_refused(value: str) -> None:
    """The old pattern (9 digits after 0 starting with 3, 5, 7, 8 or 9) took these; the national
    numbering plan (``phonenumbers``, region VN) has allocated none of them."""
    with pytest.raises(InvalidIdentifier, match="allocated"):
        identifiers.phone(value)


@pytest.mark.parametrize(
    ("value", "e164"),
    [("0362345678", "+84362345678"), ("0592345678", "+84592345678"), ("0702345678", "+84702345678"),
     ("0812345678", "+84812345678"), ("0862345678", "+84862345678"), ("0972345678", "+84972345678")],
)  # fmt: skip
def test_numbers_in_each_allocated_mobile_range_are_accepted(value: str, e164: str) -> None:
    assert identifiers.phone(value) == e164


def test_agency_codes_usernames_and_emails() -> None:
    assert identifiers.agency_code("000.00.01.H22") == "000.00.01.H22"
    for bad in ("000.00.01.h22", "H22", "000.00.01.H2"):
        with pytest.raises(InvalidIdentifier):
            identifiers.agency_code(bad)
    assert identifiers.username("CanBo.Demo") == "canbo.demo"
    for bad in ("1canbo", "ab", "can bo"):
        with pytest.raises(InvalidIdentifier):
            identifiers.username(bad)
    assert identifiers.email("An.Nguyen@Example.VN") == "An.Nguyen@example.vn"
    with pytest.raises(InvalidIdentifier):
        identifiers.email("not-an-email")


def test_a_login_is_read_as_every_identifier_it_can_be() -> None:
    kinds = lambda login: [(c.kind, c.value) for c in identifiers.login_candidates(login)]  # noqa: E731
    assert kinds("001099012345") == [(LoginKind.PERSONAL_ID, "001099012345")]
    assert kinds("0100109106") == [(LoginKind.TAX_CODE, "0100109106")]
    assert kinds("0912345678") == [(LoginKind.PHONE, "+84912345678")]
    assert kinds("canbo.demo") == [(LoginKind.USERNAME, "canbo.demo")]
    assert kinds("0357000005") == [(LoginKind.TAX_CODE, "0357000005"), (LoginKind.PHONE, "+84357000005")]
    assert kinds("  ") == []


# --- password policy ----------------------------------------------------------------------

POLICY = PasswordPolicy(min_length=10, max_length=64)


def rules(password: str, identifiers_: tuple[str, ...] = ()) -> list[str]:
    return [f["rule"] for f in POLICY.failures(password, identifiers_)]


def test_a_good_password_passes() -> None:
    assert rules("Sông-Hồng chảy 2025", ("001099012345", "+84912345678")) == []


@pytest.mark.parametrize(
    ("password", "identifiers_", "broken"),
    [
        ("Short-1", (), ["too-short"]),
        ("x" * 65, (), ["too-long"]),
        ("98765432101", (), ["all-digits"]),
        ("my001099012345pw", ("001099012345",), ["contains-identifier"]),
        ("call0912345678now", ("+84912345678",), ["contains-identifier"]),
        ("xx912345678xx", ("+84912345678",), ["contains-identifier"]),
        ("CANBO.DEMO-secret", ("canbo.demo",), ["contains-identifier"]),
        ("an.nguyen-secret", ("an.nguyen@example.vn",), ["contains-identifier"]),
        ("qwertyuiop", (), ["too-common"]),
        ("MatKhau@2024!", (), ["too-common"]),
        ("1234567890", (), ["all-digits", "too-common"]),
        ("12345", ("12345",), ["too-short", "all-digits", "contains-identifier"]),
    ],
)
def test_each_broken_rule_is_named(password: str, identifiers_: tuple[str, ...], broken: list[str]) -> None:
    assert rules(password, identifiers_) == broken


def test_a_weak_password_raises_one_error_listing_every_rule() -> None:
    with pytest.raises(WeakPassword) as caught:
        POLICY.check("0912345678", ("+84912345678",))
    error = caught.value
    answer = problem_for(error, PROBLEMS)
    assert answer.status == 422 and answer.type == "weak-password"
    assert [e["rule"] for e in error.extra["errors"]] == ["all-digits", "contains-identifier"]
    assert error.detail == "The password breaks these rules: all-digits, contains-identifier."
    assert all(e["field"] == "password" and e["message"] for e in error.extra["errors"])


# --- lockout and limits -------------------------------------------------------------------


def test_lockout_starts_at_the_threshold_doubles_and_is_capped() -> None:
    policy = LockoutPolicy(threshold=5, base_seconds=60, max_seconds=600)
    assert [policy.lock_seconds(n) for n in range(1, 10)] == [0, 0, 0, 0, 60, 120, 240, 480, 600]
    assert policy.lock_seconds(10_000) == 600


def test_an_account_lock_says_when_to_retry() -> None:
    error = AccountLocked(120, NOW + timedelta(seconds=120))
    answer = problem_for(error, PROBLEMS)
    assert answer.status == 429 and answer.type == "account-locked"
    assert error.retry_after_seconds == 120 and error.extra == {"retry_after_seconds": 120}
    assert answer.headers == {"Retry-After": "120"}
    assert "120 seconds" in str(error.detail) and "2025-06-01T08:02:00+00:00" in str(error.detail)
    assert isinstance(error, RecordedRefusal)


def test_a_window_limit_allows_up_to_its_limit_then_says_how_long_to_wait() -> None:
    limit = WindowLimit(limit=3, window_seconds=600)
    assert limit.window_start(NOW) == NOW - timedelta(seconds=600)
    assert limit.retry_after(2, NOW - timedelta(seconds=100), NOW) == 0
    assert limit.retry_after(3, NOW - timedelta(seconds=100), NOW) == 500
    assert limit.retry_after(3, NOW - timedelta(seconds=599.5), NOW) == 1


def test_remaining_lockout_is_rounded_up() -> None:
    account = make_account(locked_until=NOW + timedelta(seconds=59.2))
    assert account.lockout_remaining(NOW) == 60
    assert account.lockout_remaining(NOW + timedelta(seconds=60)) == 0


# --- scopes and assurance -----------------------------------------------------------------


def test_the_scopes_each_kind_may_be_granted() -> None:
    person = {"dossier:submit", "dossier:read", "payment:pay", "feedback:send", "notification:read"}
    assert GRANTABLE_SCOPES[AccountKind.CITIZEN] == person
    assert GRANTABLE_SCOPES[AccountKind.ENTERPRISE] == person
    assert GRANTABLE_SCOPES[AccountKind.OFFICIAL] == {
        "dossier:process",
        "dossier:read",
        "feedback:process",
        "catalogue:edit",
        "notification:read",
    }
    assert GRANTABLE_SCOPES[AccountKind.ADMIN] == {
        "catalogue:admin",
        "payment:admin",
        "sync:admin",
        "identity:admin",
        "dossier:read",
        "notification:templates",
    }


def make_account(**kw) -> Account:  # type: ignore[no-untyped-def]
    values = {
        "id": "a-1",
        "kind": AccountKind.CITIZEN,
        "status": AccountStatus.ACTIVE,
        "name": "A",
        "password_hash": "",
    }
    return Account(**{**values, **kw})


def test_assurance_rises_with_a_second_factor_and_with_in_person_verification() -> None:
    plain, in_person = make_account(), make_account(verified_in_person=True)
    assert assurance(plain, used_second_factor=False) == (Assurance.PASSWORD, ("pwd",))
    assert assurance(in_person, used_second_factor=False) == (Assurance.PASSWORD, ("pwd",))
    assert assurance(plain, used_second_factor=True) == (Assurance.SECOND_FACTOR, ("pwd", "otp"))
    assert assurance(in_person, used_second_factor=True) == (Assurance.IN_PERSON, ("pwd", "otp"))


def test_officials_and_admins_always_need_a_second_factor_others_once_enrolled() -> None:
    assert make_account(kind=AccountKind.OFFICIAL).requires_second_factor
    assert make_account(kind=AccountKind.ADMIN).requires_second_factor
    assert not make_account().requires_second_factor
    assert make_account(totp_enrolled=True).requires_second_factor


# --- one-time codes -----------------------------------------------------------------------

KEY = b"k" * 32


def issued(code: str, **kw) -> IssuedCode:  # type: ignore[no-untyped-def]
    values = {"id": "c-1", "code_hash": code_hash(KEY, "c-1", code), "expires_at": NOW + timedelta(minutes=5),
              "attempts": 0, "consumed_at": None}  # fmt: skip
    return IssuedCode(**{**values, **kw})


def test_codes_are_random_digits_of_the_asked_length() -> None:
    codes = {new_code(6) for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150


def test_a_code_hash_depends_on_the_key_and_the_row() -> None:
    assert code_hash(KEY, "c-1", "123456") != code_hash(b"x" * 32, "c-1", "123456")
    assert code_hash(KEY, "c-1", "123456") != code_hash(KEY, "c-2", "123456")
    assert "123456" not in code_hash(KEY, "c-1", "123456")


def test_a_code_is_checked_for_use_attempts_expiry_then_value() -> None:
    check_code(issued("123456"), "123456", KEY, max_attempts=5, now=NOW)
    with pytest.raises(InvalidCode) as wrong:
        check_code(issued("123456", attempts=3), "654321", KEY, max_attempts=5, now=NOW)
    assert wrong.value.extra["attempts_left"] == 1
    cases = {
        "used": issued("123456", consumed_at=NOW),
        "attempts-exhausted": issued("123456", attempts=5),
        "expired": issued("123456", expires_at=NOW),
    }
    for reason, code in cases.items():
        with pytest.raises(CodeNoLongerValid) as dead:
            check_code(code, "123456", KEY, max_attempts=5, now=NOW)
        assert dead.value.extra["reason"] == reason
        assert problem_for(dead.value, PROBLEMS).status == 410


# --- TOTP ---------------------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_totp_accepts_the_current_and_adjacent_steps_only() -> None:
    step = second_factor.time_step(NOW)
    totp = pyotp.TOTP(SECRET)
    assert second_factor.matching_step(SECRET, totp.at(NOW), NOW) == step
    assert second_factor.matching_step(SECRET, totp.at(NOW - timedelta(seconds=30)), NOW) == step - 1
    assert second_factor.matching_step(SECRET, totp.at(NOW + timedelta(seconds=30)), NOW) == step + 1
    assert second_factor.matching_step(SECRET, totp.at(NOW - timedelta(seconds=90)), NOW) is None
    assert second_factor.matching_step(SECRET, totp.at(NOW), NOW, valid_window=0) == step
    assert second_factor.matching_step(SECRET, "abcdef", NOW) is None


def test_a_totp_code_is_not_accepted_twice_nor_an_older_one() -> None:
    step = second_factor.time_step(NOW)
    code = pyotp.TOTP(SECRET).at(NOW)
    assert second_factor.matching_step(SECRET, code, NOW, last_used_step=step) is None
    earlier = pyotp.TOTP(SECRET).at(NOW - timedelta(seconds=30))
    assert second_factor.matching_step(SECRET, earlier, NOW, last_used_step=step) is None


def test_the_enrolment_uri_names_the_issuer() -> None:
    uri = second_factor.provisioning_uri(SECRET, account_name="*****2345", issuer="Cổng DVC")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={SECRET}" in uri and "issuer=C%E1%BB%95ng%20DVC" in uri
    assert len(second_factor.new_secret()) == 32


# --- inactivity ---------------------------------------------------------------------------


def test_an_inactive_account_is_warned_each_interval_then_locked() -> None:
    policy = InactivityPolicy(warn_after_days=730, warnings=2, interval_days=30)
    idle = NOW - timedelta(days=731)
    assert policy.action(make_account(last_activity_at=NOW - timedelta(days=729)), NOW) is InactivityAction.NONE
    assert policy.action(make_account(last_activity_at=idle), NOW) is InactivityAction.WARN
    warned_once = make_account(last_activity_at=idle, inactivity_warnings=1, last_inactivity_warning_at=NOW)
    assert policy.action(warned_once, NOW + timedelta(days=29)) is InactivityAction.NONE
    assert policy.action(warned_once, NOW + timedelta(days=30)) is InactivityAction.WARN
    warned_twice = make_account(last_activity_at=idle, inactivity_warnings=2, last_inactivity_warning_at=NOW)
    assert policy.action(warned_twice, NOW + timedelta(days=29)) is InactivityAction.NONE
    assert policy.action(warned_twice, NOW + timedelta(days=30)) is InactivityAction.LOCK
    locked = make_account(last_activity_at=idle, status=AccountStatus.LOCKED)
    assert policy.action(locked, NOW) is InactivityAction.NONE
