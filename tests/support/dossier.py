"""The dossier service on its own migrated database (a template copied per test), and
catalogue events shaped as the catalogue publishes them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.local.stack import create_database, database_url
from services.dossier.adapters.unit_of_work import SqlDossierUnitOfWork
from services.dossier.app import SERVICE
from services.dossier.settings import DossierSettings
from services.kit.db import Database
from services.kit.migrations import upgrade
from tests.support.servers import serve
from tests.support.tokens import ISSUER, Keys, bearer, jwks_server, token

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


def dossier_database(url: str, **options: Any) -> Database:
    """The dossier service's database as the service opens it: its units of work carry the
    service's repositories."""
    return Database(url, source="dossier", topic="dossier.events", unit_of_work=SqlDossierUnitOfWork, **options)


@pytest.fixture
async def dossier_db(dossier_db_url: str) -> AsyncIterator[Database]:
    db = dossier_database(dossier_db_url)
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


# --- the dossier API on real HTTP with real tokens ------------------------------------------

INTAKE_FORM = {
    "type": "object",
    "required": ["ho_ten", "so_gplx"],
    "properties": {
        "ho_ten": {"type": "string", "minLength": 1, "maxLength": 100},
        "so_gplx": {"type": "string", "pattern": "^[0-9]{12}$"},
        "noi_cu_tru": {
            "type": "object",
            "required": ["tinh"],
            "properties": {"tinh": {"type": "string"}, "xa": {"type": "string"}},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
INTAKE_FEES = [
    {"code": "LP01", "name": "Lệ phí cấp đổi", "amount": 135_000, "currency": "VND", "condition": None},
    {"code": "PH02", "name": "Phí chuyển phát kết quả", "amount": 25_000, "currency": "VND",
     "condition": "Khi nhận kết quả qua bưu chính"},
]  # fmt: skip
INTAKE_AGENCY = "000.00.01.H22"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def citizen_body(service_id: str, attachments: list[dict[str, str]], **changes: Any) -> dict[str, Any]:
    return {
        "service_id": service_id,
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An",
                      "phone": "0912345678"},
        "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789", "noi_cu_tru": {"tinh": "Quảng Ninh"}},
        "attachments": attachments,
        **changes,
    }  # fmt: skip


@dataclass
class Intake:
    """The dossier API over a fresh database that knows one published online service (and one
    retired one), trusting a test JWKS."""

    url: str
    db_url: str
    key: dict
    service_id: str
    retired_service_id: str

    def citizen(
        self, sub: str = "citizen-1", scope: str = "dossier:submit dossier:read", **claims: Any
    ) -> dict[str, str]:
        return bearer(token(self.key, scope=scope, aud="dossier", sub=sub, **claims))

    def official(self, *agencies: str, sub: str = "official-1") -> dict[str, str]:
        return bearer(token(self.key, scope="dossier:read dossier:process", aud="dossier", sub=sub,
                            agencies=list(agencies)))  # fmt: skip

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1/dossier", timeout=30)

    async def upload(self, api: httpx.AsyncClient, headers: dict[str, str], content: bytes = PDF,
                     name: str = "don.pdf", content_type: str = "application/pdf") -> httpx.Response:  # fmt: skip
        return await api.post("/attachments", headers=headers, files={"file": (name, content, content_type)})

    async def documents(self, api: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, str]]:
        """Uploads the two required documents (TP01, TP02) and names them for a submission."""
        refs = []
        for component in ("TP01", "TP02"):
            answer = await self.upload(api, headers)
            assert answer.status_code == 201, answer.text
            refs.append({"id": answer.json()["id"], "component_code": component})
        return refs

    async def submit(self, api: httpx.AsyncClient, headers: dict[str, str], **changes: Any) -> httpx.Response:
        body = citizen_body(self.service_id, await self.documents(api, headers), **changes)
        return await api.post("/dossiers", headers=headers, json=body)


async def publish_into(db_url: str, *events: tuple[str, dict[str, Any]]) -> None:
    """Apply catalogue events to a dossier database as its consumer would."""
    from services.dossier.service import catalogue_view

    appliers = {
        "published": catalogue_view.apply_service_published,
        "retired": catalogue_view.apply_service_retired,
    }
    db = dossier_database(db_url)
    try:
        for kind, data in events:
            async with db.transaction() as uow:
                await appliers[kind](uow, data)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def dossier_keys() -> Iterator[tuple[Keys, str]]:
    with jwks_server() as served:
        yield served


@asynccontextmanager
async def running_intake(
    db_url: str, bootstrap: str, keys: Keys, jwks_url: str, **overrides: Any
) -> AsyncIterator[Intake]:
    """The dossier API over ``db_url`` with one published and one retired online service."""
    service_id, retired = new_service_id(), new_service_id()
    published = service_published(service_id, 1, 1, form_schema=INTAKE_FORM, fees=INTAKE_FEES)
    await publish_into(
        db_url,
        ("published", published),
        ("published", service_published(retired, 1, 1, form_schema=INTAKE_FORM)),
        ("retired", service_retired(retired, 2, 1)),
    )
    settings = dossier_settings(db_url, bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url, **overrides)
    from services.dossier.app import create_app

    with serve(create_app(settings)) as url:
        yield Intake(url, db_url, keys.published[0], service_id, retired)


@pytest.fixture
async def intake(dossier_db_url, infra, dossier_keys, tmp_path) -> AsyncIterator[Intake]:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    async with running_intake(dossier_db_url, infra.bootstrap, keys, jwks_url, storage_dir=tmp_path / "files") as api:
        yield api


@pytest.fixture(scope="session")
def s3_store(infra):  # type: ignore[no-untyped-def]
    """A real S3-compatible store (SeaweedFS) for the session, started on first use."""
    from deploy.local.components import EmbeddedS3

    store = EmbeddedS3(infra.workdir / "s3", bucket="dossier-files", secret_key="s3-test-secret-" + "x" * 24,
                       log_path=infra.workdir / "s3.log")  # fmt: skip
    store.start()
    try:
        yield store
    finally:
        store.stop()
