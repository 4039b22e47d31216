"""The sync service on its own migrated database and real HTTP, trusting a test JWKS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts.events.dossier import DossierSubmitted
from deploy.local.stack import create_database, database_url
from services.kit.db import Database
from services.kit.migrations import upgrade
from services.sync.app import SERVICE
from services.sync.settings import SyncSettings
from tests.support.servers import serve
from tests.support.tokens import ISSUER, bearer, token

SYNC_TEMPLATE = "test_sync_template"
H22 = "000.00.01.H22"


def sync_settings(db_url: str, bootstrap: str, **overrides: Any) -> SyncSettings:
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False}
    return SyncSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def sync_template(infra) -> str:  # type: ignore[no-untyped-def]
    async def make() -> None:
        if await create_database(infra.server_url, SYNC_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, SYNC_TEMPLATE))

    asyncio.run(make())
    return SYNC_TEMPLATE


@pytest.fixture
async def sync_db_url(infra, sync_template) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, sync_template)


@dataclass
class Sync:
    url: str
    db_url: str
    key: dict

    def province(self, *agencies: str, client: str = "demo-province", scope: str = "sync:push") -> dict[str, str]:
        claims: dict[str, Any] = {"client_id": client}
        if agencies:
            claims["agencies"] = list(agencies)
        return bearer(token(self.key, scope=scope, aud="sync", sub=client, **claims))

    def admin(self) -> dict[str, str]:
        return bearer(token(self.key, scope="sync:admin", aud="sync", sub="admin-1"))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1/sync", timeout=60)

    def db(self) -> Database:
        return Database(self.db_url, source="sync", topic="sync.events", unit_of_work=SERVICE.unit_of_work)

    async def consume(self, event_type: str, data: dict[str, Any]) -> None:
        """Hand one ``dossier.events`` event to the sync service's own handler, as its consumer
        does (its database, its use case; the broker is not the subject here)."""
        from contracts.envelope import CloudEvent
        from services.sync.consumers import HANDLERS

        db = self.db()
        try:
            async with db.transaction() as uow:
                await HANDLERS[event_type](uow, CloudEvent(source="dossier", type=event_type, data=data))
        finally:
            await db.dispose()

    async def filed(self, code: str, agency: str = H22, identifier: str = "001099012345",
                    received_at: str = "2025-12-03T01:00:00+00:00") -> dict[str, Any]:  # fmt: skip
        """A dossier filed on the portal, as ``DossierSubmitted`` tells sync."""
        data = submitted(code, agency, identifier, received_at)
        await self.consume(DossierSubmitted.TYPE, data)
        return data


def delivery_settings(s: Sync, **overrides: Any) -> SyncSettings:
    """Settings for driving outbound delivery straight from a test: loopback agencies allowed, few attempts."""
    values = {"database_url": s.db_url, "environment": "test", "log_json": False, "dev_allow_private_endpoints": True,
              "delivery_max_attempts": 3}  # fmt: skip
    return SyncSettings(**{**values, **overrides})


def submitted(code: str, agency: str = H22, identifier: str = "001099012345",
              received_at: str = "2025-12-03T02:00:00+00:00") -> dict[str, Any]:  # fmt: skip
    """The data of ``DossierSubmitted`` for a dossier filed at ``agency``."""
    return {
        "dossier_id": str(uuid.uuid4()), "code": code, "service_id": str(uuid.uuid4()), "service_version": 1,
        "procedure_code": "1.002804", "procedure_name": "Cấp đổi giấy phép lái xe", "agency_code": agency,
        "routing_target": f"motcua:{agency}",
        "applicant": {"kind": "citizen", "identifier": identifier, "name": "Nguyễn Văn An"},
        "form": {"ho_ten": "Nguyễn Văn An"}, "attachments": [], "fees": [],
        "received_at": received_at, "appointment_date": "2025-12-10",
    }  # fmt: skip


@pytest.fixture
async def sync_api(sync_db_url, infra, dossier_keys) -> AsyncIterator[Sync]:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    settings = sync_settings(sync_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url,
                             push_rate_per_minute=1, push_burst=30)  # fmt: skip
    from services.sync.app import create_app

    with serve(create_app(settings)) as url:
        yield Sync(url, sync_db_url, keys.published[0])
