"""A dossier is filed at the level of assurance its online service requires (the catalogue's
``required_acr``, held in the read model): a weaker sign-in is refused with the RFC 9470
challenge and nothing is written; a sign-in at the level (or above) files it."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from services.kit.tables import outbox
from tests.support.dossier import (
    INTAKE_FEES,
    INTAKE_FORM,
    PDF,
    Intake,
    citizen_body,
    dossier_database,
    publish_into,
    service_published,
)

pytestmark = pytest.mark.integration

MFA = "urn:portal:acr:mfa"


async def test_a_submission_below_the_services_level_is_told_to_step_up(intake: Intake) -> None:
    raised = service_published(intake.service_id, 2, 2, form_schema=INTAKE_FORM, fees=INTAKE_FEES, required_acr=MFA)
    await publish_into(intake.db_url, ("published", raised))
    async with intake.client() as api:
        password = intake.citizen(acr="urn:portal:acr:password", auth_time=int(time.time()))
        refs = await intake.documents(api, password)
        body = citizen_body(intake.service_id, refs)

        refused = await api.post("/dossiers", headers=password, json=body)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == (
            'Bearer error="insufficient_user_authentication", error_description="A stronger sign-in is required", '
            f'acr_values="{MFA}"'
        )
        assert refused.json()["type"] == "/problems/insufficient-user-authentication"
        assert refused.json()["acr_values"] == MFA
        no_acr = await api.post("/dossiers", headers=intake.citizen(), json=body)
        assert no_acr.status_code == 401
        with_files = await api.post(
            "/dossiers/with-files",
            headers=password,
            data={"dossier": json.dumps(citizen_body(intake.service_id, [])), "components": ["TP01", "TP02"]},
            files=[("files", ("a.pdf", PDF, "application/pdf")), ("files", ("b.pdf", PDF, "application/pdf"))],
        )
        assert with_files.status_code == 401, with_files.text

        # Nothing was bound by the refusals: the same uploads file the dossier at the level.
        for acr in (MFA, "urn:portal:acr:in-person"):
            stepped_up = intake.citizen(acr=acr, auth_time=int(time.time()))
            refs = refs if acr == MFA else await intake.documents(api, stepped_up)
            filed = await api.post("/dossiers", headers=stepped_up, json=citizen_body(intake.service_id, refs))
            assert filed.status_code == 201, filed.text
    # Paying the fees asks the same level (payment reads it from the assessment).
    db = dossier_database(intake.db_url)
    try:
        async with db.transaction() as uow:
            rows = await uow.connection.execute(
                select(outbox.c.data).where(outbox.c.type == "dossier.fees.assessed.v1")
            )
            levels = {row.data["required_acr"] for row in rows}
    finally:
        await db.dispose()
    assert levels == {MFA}


async def test_a_service_at_the_lowest_level_takes_any_valid_token(intake: Intake) -> None:
    async with intake.client() as api:
        assert (await intake.submit(api, intake.citizen())).status_code == 201


async def test_the_submission_operations_document_the_challenge(intake: Intake) -> None:
    async with intake.client() as api:
        document = (await api.get(f"{intake.url}/openapi.json")).json()
    for path in ("/api/v1/dossier/dossiers", "/api/v1/dossier/dossiers/with-files"):
        operation = document["paths"][path]["post"]
        assert operation["x-required-acr"] == "per-service"
        assert "insufficient_user_authentication" in operation["responses"]["401"]["description"]
