"""Registration: a citizen's account (pending until the code sent to the phone is entered) and
an enterprise's, registered by a signed-in citizen who becomes its legal representative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts.events.identity_accounts import AccountRegistered, AccountVerified
from services.kit.errors import Conflict, NotFound
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..domain import identifiers
from ..domain.accounts import Account, AccountStatus, AlreadyRegistered, NotAllowed
from ..domain.assurance import AccountKind
from ..domain.identifiers import LoginKind
from ..domain.one_time_codes import CodePurpose
from ..settings import IdentitySettings
from . import codes, fields
from .credentials import hash_password, policy
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Registration:
    account_id: str
    status: AccountStatus
    code_expires_at: datetime | None


async def register_citizen(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    *,
    personal_id: str,
    full_name: str,
    birth_date: date,
    phone: str,
    email: str | None,
    password: str,
    client_ip: str,
    now: datetime,
) -> Registration:
    """Đăng ký tài khoản công dân: a pending account and a code sent to its phone."""
    checks = fields.Checks()
    born = checks.field("birth_date", lambda: fields.birth_date(birth_date, now), birth_date)
    personal_id = checks.field("personal_id", lambda: identifiers.personal_id(personal_id, birth_date), personal_id)
    full_name = checks.field("full_name", lambda: fields.name(settings.name_max_length, full_name), full_name)
    phone = checks.field("phone", lambda: identifiers.phone(phone), phone)
    email = checks.field("email", lambda: identifiers.email(email) if email else None, email)
    checks.done()
    policy(settings).check(password, [personal_id, phone, email or ""])
    await _refuse_taken(uow, personal_id=personal_id, phone=phone)
    await codes.enforce_send_limits(uow, settings, phone, client_ip, now)  # before the costly hashing
    account = Account(
        id=new_id(), kind=AccountKind.CITIZEN, status=AccountStatus.PENDING, name=full_name,
        personal_id=personal_id, birth_date=born, phone=phone, email=email,
        password_hash=await hash_password(settings, password), last_activity_at=now, created_at=now,
    )  # fmt: skip
    await uow.accounts.add(account)
    expires_at = await codes.issue(
        uow, settings, flow_id=account.id, purpose=CodePurpose.REGISTRATION, account_id=account.id,
        phone=phone, client_ip=client_ip, now=now, limits_checked=True,
    )  # fmt: skip
    await uow.emit(
        AccountRegistered(account_id=account.id, kind="citizen", status="pending", registered_at=now), key=account.id
    )
    log.info("citizen registration started", account_id=account.id)
    return Registration(account.id, AccountStatus.PENDING, expires_at)


async def _refuse_taken(uow: IdentityUnitOfWork, *, personal_id: str | None, phone: str | None) -> None:
    if personal_id and await uow.accounts.holding(LoginKind.PERSONAL_ID, personal_id):
        raise AlreadyRegistered("An account with this personal identification number already exists.")
    if phone and await uow.accounts.holding(LoginKind.PHONE, phone):
        raise AlreadyRegistered("This phone number already belongs to an account.")


async def resend_registration_code(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, account_id: str, client_ip: str, now: datetime
) -> datetime:
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None:
        raise NotFound("There is no registration with this id.")
    if account.status is not AccountStatus.PENDING:
        raise Conflict("This registration is already verified.")
    assert account.phone is not None
    return await codes.issue(
        uow, settings, flow_id=account_id, purpose=CodePurpose.REGISTRATION, account_id=account_id,
        phone=account.phone, client_ip=client_ip, now=now,
    )  # fmt: skip


async def verify_registration(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, account_id: str, code: str, now: datetime
) -> Account:
    """Xác thực số điện thoại: the right code activates the account (once)."""
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None:
        raise NotFound("There is no registration with this id.")
    issued = await codes.consume(
        uow, settings, flow_id=account_id, purpose=CodePurpose.REGISTRATION, code=code, now=now
    )
    if account.status is not AccountStatus.PENDING:
        raise Conflict("This registration is already verified.")
    # Two pending registrations of one person may race: the first to verify gets the identifiers.
    await uow.locks.hold(f"identifier:{account.personal_id}")
    await uow.locks.hold(f"identifier:{account.phone}")
    await _refuse_taken(uow, personal_id=account.personal_id, phone=account.phone)
    issued.consumed_at = now
    await uow.codes.save(issued)
    account.verified(now)
    await uow.accounts.save(account)  # the unique indexes are the last guard (AlreadyRegistered)
    await uow.emit(AccountVerified(account_id=account_id, kind=account.kind.value, verified_at=now), key=account_id)
    return account


async def register_enterprise(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    *,
    representative_id: str,
    tax_code: str,
    name: str,
    email: str | None,
    password: str,
    now: datetime,
) -> Account:
    """Đăng ký tài khoản doanh nghiệp by a signed-in citizen, who becomes its legal representative."""
    representative = await uow.accounts.get(representative_id)
    if representative is None or representative.kind is not AccountKind.CITIZEN:
        raise NotAllowed("Only a citizen account can register an enterprise as its legal representative.")
    if representative.status is not AccountStatus.ACTIVE:
        raise NotAllowed("The legal representative's account is not active.")
    checks = fields.Checks()
    tax_code = checks.field("tax_code", lambda: identifiers.tax_code(tax_code), tax_code)
    name = checks.field("name", lambda: fields.name(settings.name_max_length, name), name)
    email = checks.field("email", lambda: identifiers.email(email) if email else None, email)
    checks.done()
    policy(settings).check(password, [tax_code, email or ""])
    await uow.locks.hold(f"identifier:{tax_code}")
    if await uow.accounts.holding(LoginKind.TAX_CODE, tax_code):
        raise AlreadyRegistered("An enterprise with this tax code is already registered.")
    account = Account(
        id=new_id(), kind=AccountKind.ENTERPRISE, status=AccountStatus.ACTIVE, name=name, tax_code=tax_code,
        email=email, legal_representative_id=representative_id, password_hash=await hash_password(settings, password),
        last_activity_at=now, created_at=now,
    )  # fmt: skip
    await uow.accounts.add(account)
    await uow.emit(
        AccountRegistered(
            account_id=account.id, kind="enterprise", status="active",
            legal_representative_id=representative_id, registered_at=now,
        ),
        key=account.id,
    )  # fmt: skip
    stored = await uow.accounts.get(account.id)
    assert stored is not None
    return stored
