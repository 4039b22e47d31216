"""Routes for accounts: registration, verification, passwords, second factor, own profile.

Thin: parse, call one use case, shape the answer. A refusal that recorded something (an
attempt, a lockout) is committed before the problem answer goes out.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from services.kit.app import UnitOfWorkDep
from services.kit.auth import Principal, require_scopes
from services.kit.db import UnitOfWork
from services.kit.errors import NotFound
from services.kit.schemas import Name, PersonalId, StrictModel, TaxCode, VietnameseMobile

from ..domain.accounts import RecordedRefusal
from ..service import accounts
from ..settings import IdentitySettings

router = APIRouter()

T = TypeVar("T")
AccountHolder = Annotated[Principal, require_scopes()]
Admin = Annotated[Principal, require_scopes("identity:admin")]

# Bounds of request fields; the use cases apply the finer rules (settings-driven lengths,
# identifier schemes, password policy) and name every failed rule.
# A password is exactly what the person typed (NIST SP 800-63B §5.1.1.2): spaces around it are
# part of it, never stripped as other text fields are.
Password = Annotated[str, StringConstraints(strip_whitespace=False), Field(min_length=1, max_length=1024)]
Code = Annotated[str, Field(min_length=1, max_length=16)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


def _settings(request: Request) -> IdentitySettings:
    settings: IdentitySettings = request.app.state.settings
    return settings


def _client_ip(request: Request) -> str:
    # uvicorn already replaced the peer by the address the trusted gateway forwarded.
    return request.client.host if request.client else "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


async def _keeping_records(uow: UnitOfWork, work: Awaitable[T]) -> T:
    try:
        return await work
    except RecordedRefusal:
        await uow.commit()
        raise


# --- bodies -------------------------------------------------------------------------------


class CitizenRegistration(StrictModel):
    personal_id: PersonalId
    full_name: Name
    birth_date: date
    phone: VietnameseMobile
    email: str | None = Field(default=None, max_length=254)
    password: Password


class EnterpriseRegistration(StrictModel):
    tax_code: TaxCode
    name: Name
    email: str | None = Field(default=None, max_length=254)
    password: Password


class RegistrationOut(BaseModel):
    account_id: str
    status: str
    code_expires_at: datetime | None = None


class CodeCheck(StrictModel):
    account_id: Id
    code: Code


class Resend(StrictModel):
    account_id: Id


class PasswordChange(StrictModel):
    current_password: Password
    new_password: Password


class ResetStart(StrictModel):
    phone: VietnameseMobile


class ResetOut(BaseModel):
    reset_id: str
    code_expires_at: datetime


class ResetComplete(StrictModel):
    reset_id: Id
    code: Code
    new_password: Password


class TotpBegin(BaseModel):
    secret: str
    otpauth_uri: str
    digits: int
    period: int


class TotpConfirm(StrictModel):
    code: Code


# --- registration -------------------------------------------------------------------------


@router.post("/registrations/citizen", status_code=202, response_model=RegistrationOut)
async def register_citizen(body: CitizenRegistration, request: Request, uow: UnitOfWorkDep) -> RegistrationOut:
    """Đăng ký tài khoản công dân: creates a pending account and sends a code to the phone."""
    done = await accounts.register_citizen(
        uow, _settings(request), **body.model_dump(), client_ip=_client_ip(request), now=_now()
    )
    return RegistrationOut(account_id=done.account_id, status=done.status.value, code_expires_at=done.code_expires_at)


@router.post("/registrations/verify", response_model=RegistrationOut)
async def verify_registration(body: CodeCheck, request: Request, uow: UnitOfWorkDep) -> RegistrationOut:
    account = await _keeping_records(
        uow,
        accounts.verify_registration(uow, _settings(request), account_id=body.account_id, code=body.code, now=_now()),
    )
    return RegistrationOut(account_id=account.id, status=account.status.value)


@router.post("/registrations/resend", status_code=202, response_model=RegistrationOut,
             operation_id="resendRegistrationCode")  # fmt: skip
async def resend_code(body: Resend, request: Request, uow: UnitOfWorkDep) -> RegistrationOut:
    expires_at = await accounts.resend_registration_code(
        uow, _settings(request), account_id=body.account_id, client_ip=_client_ip(request), now=_now()
    )
    return RegistrationOut(account_id=body.account_id, status="pending", code_expires_at=expires_at)


@router.post("/registrations/enterprise", status_code=201, response_model=RegistrationOut)
async def register_enterprise(
    body: EnterpriseRegistration, request: Request, uow: UnitOfWorkDep, who: AccountHolder
) -> RegistrationOut:
    """A signed-in citizen registers an enterprise and becomes its legal representative."""
    account = await accounts.register_enterprise(
        uow, _settings(request), representative_id=who.subject, **body.model_dump(), now=_now()
    )
    return RegistrationOut(account_id=account.id, status=account.status.value)


# --- passwords ----------------------------------------------------------------------------


@router.post("/password/change", status_code=204)
async def change_password(body: PasswordChange, request: Request, uow: UnitOfWorkDep, who: AccountHolder) -> Response:
    await _keeping_records(
        uow,
        accounts.change_password(
            uow, _settings(request), account_id=who.subject, current_password=body.current_password,
            new_password=body.new_password, client_ip=_client_ip(request), now=_now(),
        ),
    )  # fmt: skip
    return Response(status_code=204)


@router.post("/password/reset", status_code=202, response_model=ResetOut)
async def start_password_reset(body: ResetStart, request: Request, uow: UnitOfWorkDep) -> ResetOut:
    """Quên mật khẩu: the same answer whether or not the phone belongs to an account."""
    reset = await accounts.start_password_reset(
        uow, _settings(request), phone=body.phone, client_ip=_client_ip(request), now=_now()
    )
    return ResetOut(reset_id=reset.reset_id, code_expires_at=reset.code_expires_at)


@router.post("/password/reset/complete", status_code=204)
async def complete_password_reset(body: ResetComplete, request: Request, uow: UnitOfWorkDep) -> Response:
    await _keeping_records(
        uow,
        accounts.complete_password_reset(
            uow, _settings(request), reset_id=body.reset_id, code=body.code, new_password=body.new_password, now=_now()
        ),
    )
    return Response(status_code=204)


# --- second factor ------------------------------------------------------------------------


@router.post("/totp/enrolment", response_model=TotpBegin, operation_id="beginTotpEnrolment")
async def begin_totp(request: Request, uow: UnitOfWorkDep, who: AccountHolder, response: Response) -> TotpBegin:
    """A new TOTP secret (shown once) to load into an authenticator app, then confirm."""
    response.headers["Cache-Control"] = "no-store"
    enrolment = await accounts.begin_totp_enrolment(uow, _settings(request), account_id=who.subject)
    return TotpBegin(**enrolment.__dict__)


@router.post("/totp/enrolment/confirm", status_code=204, operation_id="confirmTotpEnrolment")
async def confirm_totp(body: TotpConfirm, request: Request, uow: UnitOfWorkDep, who: AccountHolder) -> Response:
    await accounts.confirm_totp_enrolment(uow, _settings(request), account_id=who.subject, code=body.code, now=_now())
    return Response(status_code=204)


# --- own profile, administration ----------------------------------------------------------


@router.get("/me", operation_id="getMyAccount")
async def me(uow: UnitOfWorkDep, who: AccountHolder) -> dict[str, Any]:
    """The signed-in account's own profile, personal identifiers masked."""
    return await accounts.profile(uow, who.subject)


@router.post("/accounts/{account_id}/lock", status_code=204, operation_id="lockAccount")
async def lock(account_id: PathId, uow: UnitOfWorkDep, _admin: Admin) -> Response:
    await accounts.lock_account(uow, account_id=account_id, now=_now())
    return Response(status_code=204)


@router.post("/accounts/{account_id}/unlock", status_code=204, operation_id="unlockAccount")
async def unlock(account_id: PathId, uow: UnitOfWorkDep, _admin: Admin) -> Response:
    await accounts.unlock_account(uow, account_id=account_id, now=_now())
    return Response(status_code=204)


# --- development only ---------------------------------------------------------------------


@router.get("/dev/messages", include_in_schema=False)
async def development_messages(
    request: Request, uow: UnitOfWorkDep, to: Annotated[str, Query(max_length=20)]
) -> dict[str, Any]:
    """What the development notifier 'sent' to a phone. Answers 404 in production."""
    if _settings(request).environment == "production":
        raise NotFound()
    return {"messages": await accounts.development_messages(uow, to=to)}
