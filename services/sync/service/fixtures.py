"""Development fixtures of the sync service (``seed``; refused in production): the agency
simulator registered as the endpoint of the development agency's dossiers."""

from __future__ import annotations

from services.kit.db import Database
from services.kit.settings import ServiceSettings

from ..settings import SyncSettings
from .outbound import register_endpoint
from .unit_of_work import sync_unit


async def seed(db: Database, settings: ServiceSettings) -> None:
    assert isinstance(settings, SyncSettings)
    if not settings.dev_agency_endpoint:
        return
    async with db.transaction() as unit:
        secret = settings.simulated_agency_secret.get_secret_value()
        await register_endpoint(sync_unit(unit), settings, settings.simulated_agency_code, "push",
                                settings.dev_agency_endpoint, [secret])  # fmt: skip
