"""The feedback service on its own migrated database and real HTTP, trusting a test JWKS, with a
clock a test can move (``dev_clock_offset_file``) and the catalogue's and dossier service's events
applied through its own consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.envelope import CloudEvent
from contracts.events.catalogue import OnlineServicePublished
from contracts.events.dossier import DossierSubmitted
from deploy.local.stack import create_database, database_url
from services.feedback.app import SERVICE
from services.feedback.settings import FeedbackSettings
from services.kit.db import Database
from services.kit.migrations import upgrade
from tests.support.servers import serve
from tests.support.tokens import ISSUER, bearer, token

FEEDBACK_TEMPLATE = "test_feedback_template"
RECEIVING = "000.00.00.G22"
H22 = "000.00.01.H22"
H26 = "000.00.01.H26"
MFA = "urn:portal:acr:mfa"


def feedback_settings(db_url: str, bootstrap: str, **overrides: Any) -> FeedbackSettings:
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False,
              "receiving_agency": RECEIVING}  # fmt: skip
    return FeedbackSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def feedback_template(infra) -> str:  # type: ignore[no-untyped-def]
    async def make() -> None:
        if await create_database(infra.server_url, FEEDBACK_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, FEEDBACK_TEMPLATE))

    asyncio.run(make())
    return FEEDBACK_TEMPLATE


@pytest.fixture
async def feedback_db_url(infra, feedback_template) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, feedback_template)


def contact(name: str = "Nguyễn Văn An") -> dict[str, Any]:
    return {"kind": "citizen", "name": name, "phone": "0912345678", "email": "an@example.vn",
            "address": "12 Tràng Tiền, Hoàn Kiếm, Hà Nội"}  # fmt: skip


def about_procedure(procedure: str = "1.001234", **extra: Any) -> dict[str, Any]:
    return {"topic": "procedure", "procedure_code": procedure, "title": "Thời hạn giải quyết quá dài",
            "content": "Thủ tục cấp đổi giấy phép lái xe mất quá nhiều ngày so với quy định.",
            "consent_to_publish": True, "contact": contact(), **extra}  # fmt: skip


def service_published(procedure: str, agency: str, agency_name: str = "Sở Giao thông vận tải Hà Nội",
                      service_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "revision": 1, "service_id": service_id or str(uuid.uuid4()), "version": 1,
        "procedure": {"code": procedure, "name": "Cấp đổi giấy phép lái xe", "sector_code": "GTVT",
                      "sector_name": "Giao thông vận tải", "level": "province", "steps": [], "documents": [],
                      "processing_days": 5, "fees": [], "legal_basis": [], "results": []},
        "agency": {"code": agency, "name": agency_name}, "online_level": "full", "form_schema": {"type": "object"},
        "fees": [], "processing_days": 5, "routing_target": f"motcua:{agency}", "published_at": "2026-01-05T01:00:00Z",
    }  # fmt: skip


def dossier_submitted(code: str, owner: str | None, agency: str = H22) -> dict[str, Any]:
    return {
        "dossier_id": str(uuid.uuid4()), "code": code, "service_id": str(uuid.uuid4()), "service_version": 1,
        "procedure_code": "1.001234", "procedure_name": "Cấp đổi giấy phép lái xe", "agency_code": agency,
        "routing_target": f"motcua:{agency}", "owner": owner,
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
        "form": {}, "attachments": [], "fees": [], "received_at": "2026-01-05T02:00:00Z",
        "appointment_date": "2026-01-12",
    }  # fmt: skip


@dataclass
class FeedbackApi:
    url: str
    db_url: str
    key: dict
    clock_file: Path

    def citizen(self, sub: str = "citizen-1", scope: str = "feedback:send") -> dict[str, str]:
        return bearer(token(self.key, scope=scope, aud="feedback", sub=sub))

    def official(self, *agencies: str, sub: str = "official-1", acr: str | None = MFA,
                 scope: str = "feedback:process") -> dict[str, str]:  # fmt: skip
        claims: dict[str, Any] = {"agencies": list(agencies)}
        if acr is not None:
            claims["acr"] = acr
        return bearer(token(self.key, scope=scope, aud="feedback", sub=sub, **claims))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1/feedback", timeout=60)

    def db(self) -> Database:
        return Database(self.db_url, source="feedback", topic="feedback.events", unit_of_work=SERVICE.unit_of_work)

    def move_clock(self, days: float) -> None:
        """From now on the service's clock runs ``days`` ahead of this machine's."""
        self.clock_file.write_text(str(days * 86_400))

    async def consume(self, event_type: str, data: dict[str, Any], source: str) -> None:
        """Hand one event to the service's own handler, as its consumer does."""
        from services.feedback.consumers import HANDLERS

        db = self.db()
        try:
            async with db.transaction() as uow:
                await HANDLERS[event_type](uow, CloudEvent(source=source, type=event_type, data=data))
        finally:
            await db.dispose()

    async def offered(self, procedure: str, agency: str, agency_name: str = "Sở Giao thông vận tải Hà Nội") -> None:
        await self.consume(OnlineServicePublished.TYPE, service_published(procedure, agency, agency_name), "catalogue")

    async def filed(self, code: str, owner: str | None, agency: str = H22) -> None:
        await self.consume(DossierSubmitted.TYPE, dossier_submitted(code, owner, agency), "dossier")

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        db = self.db()
        try:
            async with db.transaction() as uow:
                return list((await uow.connection.execute(text(sql), params)).all())
        finally:
            await db.dispose()


@pytest.fixture
async def feedback_api(feedback_db_url, infra, dossier_keys, tmp_path) -> AsyncIterator[FeedbackApi]:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    clock_file = tmp_path / "clock-offset"
    settings = feedback_settings(feedback_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url,
                                 dev_clock_offset_file=clock_file, storage_dir=tmp_path / "files",
                                 max_attachment_bytes=64 * 1024, max_body_bytes=80 * 1024,
                                 max_uploads_per_account_per_day=8, max_attachments=3)  # fmt: skip
    from services.feedback.app import create_app

    with serve(create_app(settings)) as url:
        yield FeedbackApi(url, feedback_db_url, keys.published[0], clock_file)
