"""The OpenAPI document states the limits the deployment enforces (``DOSSIER_MAX_*``): the files
a dossier may name are the setting's count, and one over it is refused with a 4xx problem."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.dossier.api.routes import MAX_PAGE
from services.dossier.app import create_app
from services.dossier.settings import DossierSettings
from tests.support.dossier import PDF, Intake, citizen_body, running_intake

pytestmark = pytest.mark.integration

COUNT = 3


@pytest.fixture
async def small_intake(dossier_db_url, infra, dossier_keys, tmp_path) -> AsyncIterator[Intake]:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    async with running_intake(dossier_db_url, infra.bootstrap, keys, jwks_url, storage_dir=tmp_path / "files",
                              max_attachments_per_dossier=COUNT) as api:  # fmt: skip
        yield api


def schemas(settings: DossierSettings) -> dict:  # type: ignore[type-arg]
    return create_app(settings).openapi()["components"]["schemas"]


@pytest.mark.parametrize("count", [1, 20, 200])
def test_the_document_states_the_configured_count(count: int) -> None:
    found = schemas(DossierSettings(environment="test", max_attachments_per_dossier=count))
    assert found["DossierCreate"]["properties"]["attachments"]["maxItems"] == count
    assert found["SubmitDossierWithFilesForm"]["properties"]["files"]["maxItems"] == count
    assert "262144 bytes" in found["DossierCreate"]["properties"]["form"]["description"]


def test_the_default_is_twenty() -> None:
    assert schemas(DossierSettings(environment="test"))["DossierCreate"]["properties"]["attachments"]["maxItems"] == 20


async def test_the_served_document_and_the_service_agree(small_intake: Intake) -> None:
    citizen = small_intake.citizen()
    async with httpx.AsyncClient(base_url=small_intake.url) as root:
        document = (await root.get("/openapi.json")).json()
    assert document["components"]["schemas"]["DossierCreate"]["properties"]["attachments"]["maxItems"] == COUNT
    async with small_intake.client() as api:
        # One over the documented count: a 422 problem naming the field.
        refs = [{"id": str(uuid.uuid4()), "component_code": "TP01"} for _ in range(COUNT + 1)]
        refused = await api.post("/dossiers", headers=citizen, json=citizen_body(small_intake.service_id, refs))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["attachments"]
        # Over it in one multipart request too.
        files = [("files", (f"f{i}.pdf", PDF, "application/pdf")) for i in range(COUNT + 1)]
        body = json.dumps(citizen_body(small_intake.service_id, []))
        fields = {"dossier": body, "components": ["TP01"] * (COUNT + 1)}
        multipart = await api.post("/dossiers/with-files", headers=citizen, files=files, data=fields)
        assert multipart.status_code == 422, multipart.text
        assert multipart.headers["content-type"] == "application/problem+json"
        # At the count, the dossier is filed.
        filed = await small_intake.submit(api, citizen)
        assert filed.status_code == 201, filed.text
        # The page size the document states is the one enforced.
        [limit] = [
            p for p in document["paths"]["/api/v1/dossier/dossiers"]["get"]["parameters"] if p["name"] == "limit"
        ]
        assert limit["schema"]["maximum"] == MAX_PAGE
        assert (await api.get("/dossiers", headers=citizen, params={"limit": MAX_PAGE})).status_code == 200
        over = await api.get("/dossiers", headers=citizen, params={"limit": MAX_PAGE + 1})
        assert over.status_code == 422 and over.headers["content-type"] == "application/problem+json"
