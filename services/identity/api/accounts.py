"""Routes for accounts: registration, verification, passwords, second factor, own profile.

Thin: parse, call one use case, shape the answer. The unit of work (``IdentityUnitOfWorkDep``) commits,
refusals that recorded something (an attempt, a lockout) included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from contracts.assurance import SECOND_FACTOR, meets
from services.kit.auth import Principal, require_scopes
from services.kit.errors import Forbidden, NotFound

from ..service import accounts, deletion, messages, passwords, registration, second_factor
from ..settings import IdentitySettings
from .dependencies import IdentityUnitOfWorkDep
from .schemas import (
    AccountClosure,
    AccountPublic,
    CitizenRegistration,
    CodeCheck,
    DevelopmentMessages,
    EnterpriseRegistration,
    MessagePublic,
    PasswordChange,
    PasswordResetPublic,
    RegistrationPublic,
    Resend,
    ResetComplete,
    ResetStart,
    TotpConfirm,
    TotpEnrolmentPublic,
)

router = APIRouter()

AccountHolder = Annotated[Principal, require_scopes()]
Admin = Annotated[Principal, require_scopes("identity:admin")]


def _person(principal: Principal) -> bool:
    """A token a person signed in for (a machine client's names the client as its subject)."""
    return principal.client_id is None or principal.subject != principal.client_id


async def _holder(principal: AccountHolder) -> Principal:
    if not _person(principal):
        raise Forbidden("An account is closed by the person holding it.")
    return principal


async def _deleting_admin(principal: Admin) -> Principal:
    """Deleting cannot be undone: an administrator signed in with the second factor, not a machine."""
    if not _person(principal) or not meets(principal.acr, SECOND_FACTOR):
        raise Forbidden("Accounts are deleted by an administrator signed in with a second factor.")
    return principal


Holder = Annotated[Principal, Depends(_holder)]
DeletingAdmin = Annotated[Principal, Depends(_deleting_admin)]
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


def _settings(request: Request) -> IdentitySettings:
    settings: IdentitySettings = request.app.state.settings
    return settings


def _client_ip(request: Request) -> str:
    # uvicorn already replaced the peer by the address the trusted gateway forwarded.
    return request.client.host if request.client else "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


# --- registration -------------------------------------------------------------------------


@router.post("/registrations/citizen", status_code=202, response_model=RegistrationPublic)
async def register_citizen(
    body: CitizenRegistration, request: Request, uow: IdentityUnitOfWorkDep
) -> RegistrationPublic:
    """Đăng ký tài khoản công dân: creates a pending account and sends a code to the phone."""
    done = await registration.register_citizen(
        uow, _settings(request), personal_id=body.personal_id, full_name=body.full_name, birth_date=body.birth_date,
        phone=body.phone, email=body.email, password=body.password, client_ip=_client_ip(request), now=_now(),
    )  # fmt: skip
    return RegistrationPublic(
        account_id=done.account_id, status=done.status.value, code_expires_at=done.code_expires_at
    )


@router.post("/registrations/verify", response_model=RegistrationPublic)
async def verify_registration(body: CodeCheck, request: Request, uow: IdentityUnitOfWorkDep) -> RegistrationPublic:
    account = await registration.verify_registration(
        uow, _settings(request), account_id=body.account_id, code=body.code, now=_now()
    )
    return RegistrationPublic(account_id=account.id, status=account.status.value)


@router.post("/registrations/resend", status_code=202, response_model=RegistrationPublic,
             operation_id="resendRegistrationCode")  # fmt: skip
async def resend_code(body: Resend, request: Request, uow: IdentityUnitOfWorkDep) -> RegistrationPublic:
    expires_at = await registration.resend_registration_code(
        uow, _settings(request), account_id=body.account_id, client_ip=_client_ip(request), now=_now()
    )
    return RegistrationPublic(account_id=body.account_id, status="pending", code_expires_at=expires_at)


@router.post("/registrations/enterprise", status_code=201, response_model=RegistrationPublic)
async def register_enterprise(
    body: EnterpriseRegistration, request: Request, uow: IdentityUnitOfWorkDep, who: AccountHolder
) -> RegistrationPublic:
    """A signed-in citizen registers an enterprise and becomes its legal representative."""
    account = await registration.register_enterprise(
        uow, _settings(request), representative_id=who.subject, tax_code=body.tax_code, name=body.name,
        email=body.email, password=body.password, now=_now(),
    )  # fmt: skip
    return RegistrationPublic(account_id=account.id, status=account.status.value)


# --- passwords ----------------------------------------------------------------------------


@router.post("/password/change", status_code=204)
async def change_password(
    body: PasswordChange, request: Request, uow: IdentityUnitOfWorkDep, who: AccountHolder
) -> Response:
    await passwords.change_password(
        uow, _settings(request), account_id=who.subject, current_password=body.current_password,
        new_password=body.new_password, client_ip=_client_ip(request), now=_now(),
    )  # fmt: skip
    return Response(status_code=204)


@router.post("/password/reset", status_code=202, response_model=PasswordResetPublic)
async def start_password_reset(body: ResetStart, request: Request, uow: IdentityUnitOfWorkDep) -> PasswordResetPublic:
    """Quên mật khẩu: the same answer whether or not the phone belongs to an account."""
    reset = await passwords.start_password_reset(
        uow, _settings(request), phone=body.phone, client_ip=_client_ip(request), now=_now()
    )
    return PasswordResetPublic(reset_id=reset.reset_id, code_expires_at=reset.code_expires_at)


@router.post("/password/reset/complete", status_code=204)
async def complete_password_reset(body: ResetComplete, request: Request, uow: IdentityUnitOfWorkDep) -> Response:
    await passwords.complete_password_reset(
        uow, _settings(request), reset_id=body.reset_id, code=body.code, new_password=body.new_password, now=_now()
    )
    return Response(status_code=204)


# --- second factor ------------------------------------------------------------------------


@router.post("/totp/enrolment", response_model=TotpEnrolmentPublic, operation_id="beginTotpEnrolment")
async def begin_totp(
    request: Request, uow: IdentityUnitOfWorkDep, who: AccountHolder, response: Response
) -> TotpEnrolmentPublic:
    """A new TOTP secret (shown once) to load into an authenticator app, then confirm."""
    response.headers["Cache-Control"] = "no-store"
    enrolment = await second_factor.begin_totp_enrolment(uow, _settings(request), account_id=who.subject)
    return TotpEnrolmentPublic(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, digits=enrolment.digits, period=enrolment.period
    )


@router.post("/totp/enrolment/confirm", status_code=204, operation_id="confirmTotpEnrolment")
async def confirm_totp(body: TotpConfirm, request: Request, uow: IdentityUnitOfWorkDep, who: AccountHolder) -> Response:
    await second_factor.confirm_totp_enrolment(
        uow, _settings(request), account_id=who.subject, code=body.code, now=_now()
    )
    return Response(status_code=204)


# --- own profile, administration ----------------------------------------------------------


@router.get("/me", response_model=AccountPublic, operation_id="getMyAccount")
async def me(uow: IdentityUnitOfWorkDep, who: AccountHolder) -> AccountPublic:
    """The signed-in account's own profile, personal identifiers masked."""
    return AccountPublic.of(await accounts.profile(uow, who.subject))


@router.post("/me/closure", status_code=204, operation_id="closeMyAccount")
async def close_my_account(body: AccountClosure, request: Request, uow: IdentityUnitOfWorkDep, who: Holder) -> Response:
    """Xoá tài khoản: the holder of a citizen or enterprise account deletes it with its password.
    Personal data is erased, sessions and tokens end, and sign-in then fails as for an unknown login."""
    await deletion.close_own_account(
        uow, _settings(request), account_id=who.subject, password=body.password, client_ip=_client_ip(request),
        now=_now(),
    )  # fmt: skip
    return Response(status_code=204)


@router.delete("/accounts/{account_id}", status_code=204, operation_id="deleteAccount")
async def delete(account_id: PathId, uow: IdentityUnitOfWorkDep, admin: DeletingAdmin) -> Response:
    """An identity administrator deletes an account (not their own): as its holder's closure does."""
    await deletion.delete_account(uow, account_id=account_id, administrator_id=admin.subject, now=_now())
    return Response(status_code=204)


@router.post("/accounts/{account_id}/lock", status_code=204, operation_id="lockAccount")
async def lock(account_id: PathId, uow: IdentityUnitOfWorkDep, _admin: Admin) -> Response:
    await accounts.lock_account(uow, account_id=account_id, now=_now())
    return Response(status_code=204)


@router.post("/accounts/{account_id}/unlock", status_code=204, operation_id="unlockAccount")
async def unlock(account_id: PathId, uow: IdentityUnitOfWorkDep, _admin: Admin) -> Response:
    await accounts.unlock_account(uow, account_id=account_id, now=_now())
    return Response(status_code=204)


# --- development only ---------------------------------------------------------------------


@router.get("/dev/messages", include_in_schema=False, response_model=DevelopmentMessages)
async def development_messages(
    request: Request, uow: IdentityUnitOfWorkDep, to: Annotated[str, Query(max_length=20)]
) -> DevelopmentMessages:
    """What the development notifier 'sent' to a phone. Answers 404 in production."""
    if _settings(request).environment == "production":
        raise NotFound()
    kept = await messages.development_messages(uow, to=to)
    return DevelopmentMessages(messages=[MessagePublic.of(m) for m in kept])
