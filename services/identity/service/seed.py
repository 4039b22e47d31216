"""Development fixtures of the identity service, documented in the README: a citizen, an
enterprise it represents, an official of agency ``000.00.01.H22`` and an administrator (both
with TOTP), and the demo clients. Idempotent; refused in production."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from contracts.events.identity_accounts import AccountRegistered
from services.kit.logging import get_logger

from ..adapters.accounts import encrypt_secret
from ..domain.accounts import Account, AccountStatus, NotAllowed
from ..domain.assurance import AccountKind
from ..settings import IdentitySettings
from .clients import seed_clients
from .credentials import hash_password
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)

# Documented development credentials (README). Valid identifiers, passwords that pass the policy,
# fixed TOTP secrets to load into an authenticator app.
SEED_CITIZEN_ID = "00000000-0000-4000-8000-000000000001"
SEED_ENTERPRISE_ID = "00000000-0000-4000-8000-000000000002"
SEED_OFFICIAL_ID = "00000000-0000-4000-8000-000000000003"
SEED_ADMIN_ID = "00000000-0000-4000-8000-000000000004"
SEED_OFFICIAL_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SEED_ADMIN_TOTP = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"


@dataclass(frozen=True)
class SeedAccount:
    id: str
    kind: AccountKind
    name: str
    password: str
    personal_id: str | None = None
    tax_code: str | None = None
    username: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    phone_verified: bool = False
    email: str | None = None
    email_verified: bool = False
    verified_in_person: bool = False
    legal_representative_id: str | None = None
    agencies: tuple[str, ...] = ()
    roles: tuple[str, ...] = field(default=())
    totp: str | None = None

    def __getitem__(self, name: str) -> object:
        """``fixture["password"]``: tests outside the service read the fixtures by key."""
        return getattr(self, name)


SEED_ACCOUNTS: list[SeedAccount] = [
    SeedAccount(
        id=SEED_CITIZEN_ID, kind=AccountKind.CITIZEN, name="Nguyễn Văn An", personal_id="001099012345",
        birth_date=date(1999, 5, 15), phone="+84912345678", phone_verified=True,
        email="an.nguyen@example.vn", email_verified=True, verified_in_person=True, password="Citizen-Demo-2025",  # noqa: S106 - documented development credentials
    ),
    SeedAccount(
        id=SEED_ENTERPRISE_ID, kind=AccountKind.ENTERPRISE, name="Công ty TNHH Dịch vụ Mẫu",
        tax_code="0101234565", legal_representative_id=SEED_CITIZEN_ID, password="Enterprise-Demo-2025",  # noqa: S106 - documented development credentials
    ),
    SeedAccount(
        id=SEED_OFFICIAL_ID, kind=AccountKind.OFFICIAL, name="Trần Thị Bình", username="canbo.demo",
        agencies=("000.00.01.H22",), roles=("dossier-processor",), password="Official-Demo-2025",  # noqa: S106 - documented development credentials
        totp=SEED_OFFICIAL_TOTP,
    ),
    SeedAccount(
        id=SEED_ADMIN_ID, kind=AccountKind.ADMIN, name="Lê Quản Trị", username="quantri.demo",
        roles=("identity-admin",), password="Admin-Demo-2025!", totp=SEED_ADMIN_TOTP,  # noqa: S106 - documented development credentials
    ),
]  # fmt: skip


async def seed_accounts(uow: IdentityUnitOfWork, settings: IdentitySettings) -> None:
    """The fixture accounts not there yet (by id or by an identifier another account holds)."""
    if settings.environment == "production":
        raise NotAllowed("Development fixtures are refused in production.")
    now = datetime.now(UTC)
    secret = settings.accounts_secret_key.get_secret_value()
    for fixture in SEED_ACCOUNTS:
        account = Account(
            id=fixture.id, kind=fixture.kind, status=AccountStatus.ACTIVE, name=fixture.name,
            password_hash="", personal_id=fixture.personal_id,
            tax_code=fixture.tax_code, username=fixture.username, birth_date=fixture.birth_date,
            phone=fixture.phone, phone_verified=fixture.phone_verified, email=fixture.email,
            email_verified=fixture.email_verified, verified_in_person=fixture.verified_in_person,
            legal_representative_id=fixture.legal_representative_id,
            agencies=fixture.agencies, roles=fixture.roles, totp_enrolled=fixture.totp is not None,
            totp_secret=encrypt_secret(secret, fixture.totp) if fixture.totp else None,
            last_activity_at=now, created_at=now,
        )  # fmt: skip
        if await uow.accounts.fixture_present(account):
            continue
        account.password_hash = await hash_password(settings, fixture.password)
        if await uow.accounts.add_fixture(account):
            await uow.emit(
                AccountRegistered(
                    account_id=account.id, kind=account.kind.value, status="active",
                    legal_representative_id=account.legal_representative_id, registered_at=now,
                ),
                key=account.id,
            )  # fmt: skip


async def seed(uow: IdentityUnitOfWork, settings: IdentitySettings) -> None:
    await seed_clients(uow, settings)
    await seed_accounts(uow, settings)
