"""Use-case tests on the fake unit of work: no server, no database, milliseconds each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.identity.domain.accounts import Account, AccountStatus
from services.identity.domain.assurance import AccountKind
from services.identity.service import credentials
from services.identity.settings import IdentitySettings
from tests.identity.fakes import FakeIdentityUnitOfWork
from tests.support.identity import FAST_HASHING

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOWHERE = {"database_url": "postgresql+asyncpg://u:p@127.0.0.1:1/none", "kafka_bootstrap_servers": "127.0.0.1:1",
           "environment": "test", "log_json": False}  # fmt: skip
CITIZEN_ID, CITIZEN_PASSWORD = "citizen-1", "Mưa-rơi trên phố 7"
PERSONAL_ID, PHONE = "001099012345", "+84912345678"


def make_settings(**overrides: Any) -> IdentitySettings:
    return IdentitySettings(**{**NOWHERE, **FAST_HASHING, **overrides})


@pytest.fixture
def settings() -> IdentitySettings:
    return make_settings()


@pytest.fixture
def uow() -> FakeIdentityUnitOfWork:
    return FakeIdentityUnitOfWork()


async def add_citizen(
    uow: FakeIdentityUnitOfWork, settings: IdentitySettings, *, password: str = CITIZEN_PASSWORD, **values: Any
) -> Account:
    account = Account(
        id=CITIZEN_ID, kind=AccountKind.CITIZEN, status=AccountStatus.ACTIVE, name="Nguyễn Văn An",
        password_hash=await credentials.hash_password(settings, password), personal_id=PERSONAL_ID,
        birth_date=date(1999, 5, 15), phone=PHONE, phone_verified=True, last_activity_at=NOW, created_at=NOW,
    )  # fmt: skip
    for name, value in values.items():
        setattr(account, name, value)
    await uow.accounts.add(account)
    return account


def stored(uow: FakeIdentityUnitOfWork, account_id: str = CITIZEN_ID) -> Account:
    return uow.accounts.rows[account_id]
