"""The dossier service on its own migrated database (a template copied per test), and
catalogue events shaped as the catalogue publishes them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploy.local.stack import create_database, database_url
from services.dossier.app import SERVICE
from services.dossier.settings import DossierSettings
from services.kit.db import Database
from services.kit.migrations import upgrade

DOSSIER_TEMPLATE = "test_dossier_template"


def dossier_settings(db_url: str, bootstrap: str, **overrides) -> DossierSettings:  # type: ignore[no-untyped-def]
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False}
    return DossierSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def dossier_template(infra) -> str:  # type: ignore[no-untyped-def]
    """A migrated, empty dossier database, copied per test."""

    async def make() -> None:
        if await create_database(infra.server_url, DOSSIER_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, DOSSIER_TEMPLATE))

    asyncio.run(make())
    return DOSSIER_TEMPLATE


@pytest.fixture
async def dossier_db_url(infra, dossier_template) -> str:  # type: ignore[no-untyped-def]
    """A fresh, migrated dossier database for one test."""
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, dossier_template)


@pytest.fixture
async def dossier_db(dossier_db_url: str) -> AsyncIterator[Database]:
    db = Database(dossier_db_url, source="dossier", topic="dossier.events")
    yield db
    await db.dispose()


# --- catalogue events -----------------------------------------------------------------------

PUBLISHED_AT = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def new_service_id() -> str:
    return str(uuid.uuid4())


def _document(code: str, name: str, template: str | None) -> dict[str, Any]:
    return {"code": code, "name": name, "copies": 1, "required": True, "template": template}


def procedure_definition(code: str = "1.002804", **changes: Any) -> dict[str, Any]:
    """A procedure as ``ProcedureDefinition`` carries it."""
    return {
        "code": code,
        "name": "Cấp đổi giấy phép lái xe",
        "sector_code": "DB",
        "sector_name": "Đường bộ",
        "level": "province",
        "steps": ["Nộp hồ sơ trực tuyến", "Tiếp nhận hồ sơ", "Trả kết quả"],
        "documents": [
            _document("TP01", "Đơn đề nghị đổi giấy phép lái xe", "Mẫu số 01"),
            _document("TP02", "Giấy khám sức khỏe", None),
        ],
        "processing_days": 5,
        "fees": [{"code": "LP01", "name": "Lệ phí cấp đổi", "amount": 135_000, "currency": "VND", "condition": None}],
        "legal_basis": ["Thông tư 35/2024/TT-BGTVT"],
        "results": ["Giấy phép lái xe"],
        **changes,
    }


def service_published(service_id: str, revision: int, version: int, **changes: Any) -> dict[str, Any]:
    """The data of ``catalogue.online_service.published.v1``; the form's title and the fee tell
    versions apart."""
    return {
        "revision": revision,
        "service_id": service_id,
        "version": version,
        "procedure": procedure_definition(),
        "agency": {"code": "000.00.01.H22", "name": "Sở Xây dựng tỉnh Quảng Ninh", "province_code": "H22"},
        "online_level": "full",
        "form_schema": {"title": f"Đơn v{version}", "type": "object", "properties": {"ho_ten": {"type": "string"}}},
        "fees": [{"code": "LP01", "name": "Lệ phí", "amount": 100_000 + version, "currency": "VND", "condition": None}],
        "processing_days": 5,
        "routing_target": f"one-stop.h22/v{version}",
        "published_at": (PUBLISHED_AT + timedelta(days=revision)).isoformat(),
        **changes,
    }


def service_retired(service_id: str, revision: int, last_version: int | None = None) -> dict[str, Any]:
    return {
        "revision": revision,
        "service_id": service_id,
        "last_version": last_version,
        "retired_at": (PUBLISHED_AT + timedelta(days=revision)).isoformat(),
    }


def procedure_published(code: str, revision: int, **changes: Any) -> dict[str, Any]:
    return {
        "revision": revision,
        "procedure": procedure_definition(code, **changes),
        "published_at": (PUBLISHED_AT + timedelta(days=revision)).isoformat(),
    }


def procedure_retired(code: str, revision: int) -> dict[str, Any]:
    return {"revision": revision, "code": code, "retired_at": (PUBLISHED_AT + timedelta(days=revision)).isoformat()}
