"""The notification service on its own migrated database and real HTTP, trusting a test JWKS,
with the dossier, payment and feedback services' events handed to its own consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.envelope import CloudEvent
from deploy.local.stack import create_database, database_url
from services.kit.db import Database
from services.kit.migrations import upgrade
from services.notification.app import SERVICE
from services.notification.settings import NotificationSettings
from tests.support.servers import serve
from tests.support.tokens import ISSUER, bearer, token

NOTIFICATION_TEMPLATE = "test_notification_template"


def notification_settings(db_url: str, bootstrap: str, **overrides: Any) -> NotificationSettings:
    # No quiet hours: what a test sees does not depend on the hour it runs at (they have tests of their own).
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False,
              "quiet_start": "00:00", "quiet_end": "00:00"}  # fmt: skip
    return NotificationSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def notification_template(infra) -> str:  # type: ignore[no-untyped-def]
    async def make() -> None:
        if await create_database(infra.server_url, NOTIFICATION_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, NOTIFICATION_TEMPLATE))

    asyncio.run(make())
    return NOTIFICATION_TEMPLATE


@pytest.fixture
async def notification_db_url(infra, notification_template) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, notification_template)


def dossier_submitted(owner: str | None, code: str = "H22.01-260105-0001", appointment: date = date(2026, 1, 12),
                      dossier_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "dossier_id": dossier_id or str(uuid.uuid4()), "code": code, "service_id": str(uuid.uuid4()),
        "service_version": 1, "procedure_code": "1.001234", "procedure_name": "Cấp đổi giấy phép lái xe",
        "agency_code": "000.00.01.H22", "routing_target": "motcua:000.00.01.H22", "owner": owner,
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
        "form": {}, "attachments": [], "fees": [], "received_at": "2026-01-05T02:00:00Z",
        "appointment_date": appointment.isoformat(),
    }  # fmt: skip


def status_changed(
    dossier_id: str, previous: int | None, status: int, appointment: date | None = None
) -> dict[str, Any]:
    return {"dossier_id": dossier_id, "code": "H22.01-260105-0001", "agency_code": "000.00.01.H22",
            "origin": "portal", "previous": previous, "status": status, "source": "agency",
            "occurred_at": "2026-01-06T02:00:00Z",
            "appointment_date": appointment.isoformat() if appointment else None}  # fmt: skip


@dataclass
class NotificationApi:
    url: str
    db_url: str
    key: dict
    clock_file: Path
    settings: NotificationSettings

    def person(self, sub: str = "citizen-1", scope: str = "notification:read") -> dict[str, str]:
        return bearer(token(self.key, scope=scope, aud="notification", sub=sub))

    def operator(self, sub: str = "admin-1", scope: str = "notification:templates") -> dict[str, str]:
        return bearer(token(self.key, scope=scope, aud="notification", sub=sub))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1/notification", timeout=60)

    def db(self) -> Database:
        return Database(self.db_url, source="notification", topic="notification.events",
                        unit_of_work=SERVICE.unit_of_work)  # fmt: skip

    async def consume(self, event_type: str, data: dict[str, Any], source: str, event_id: str | None = None) -> str:
        """Hand one event to the service's own handler, as its consumer does; the event's id."""
        event = CloudEvent(source=source, type=event_type, data=data, **({"id": event_id} if event_id else {}))
        await self.consume_run([event])
        return event.id

    async def consume_run(self, events: list[CloudEvent]) -> None:
        """Hand a run of events to the service's handlers in one transaction, as its consumer does
        (the types with a batch handler together, the others one by one)."""
        from services.notification.consumers import batch_handlers, handlers

        singles, batched = handlers(self.settings), batch_handlers(self.settings)
        db = self.db()
        try:
            async with db.transaction() as uow:
                run = [e for e in events if e.type in batched]
                if run:
                    await batched[run[0].type](uow, run)
                for event in events:
                    if event.type in singles:
                        await singles[event.type](uow, event)
        finally:
            await db.dispose()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        db = self.db()
        try:
            async with db.transaction() as uow:
                return list((await uow.connection.execute(text(sql), params)).all())
        finally:
            await db.dispose()


@pytest.fixture
async def notification_api(notification_db_url, infra, dossier_keys, tmp_path) -> AsyncIterator[NotificationApi]:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    clock_file = tmp_path / "clock-offset"
    settings = notification_settings(notification_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url,
                                     dev_clock_offset_file=clock_file, streams_per_account=2,
                                     stream_heartbeat_seconds=1.0)  # fmt: skip
    from services.notification.app import create_app

    with serve(create_app(settings)) as url:
        yield NotificationApi(url, notification_db_url, keys.published[0], clock_file, settings)
