"""Development fixtures of the identity service, documented in the README. Idempotent; the
kit's ``seed`` command refuses to run them when the environment is production."""

from services.kit.db import Database

from ..settings import IdentitySettings
from .accounts import seed_accounts
from .clients import seed_clients


async def seed(db: Database, settings: IdentitySettings) -> None:
    async with db.transaction() as uow:
        await seed_clients(uow, settings)
        await seed_accounts(uow, settings)
