"""The bulk import on the fake unit: per-row outcomes, a rejected row writes nothing, an
unchanged re-import emits nothing, a dry run leaves nothing behind."""

from __future__ import annotations

import json
from typing import Any

from contracts.events.catalogue import OnlineServicePublished, OnlineServiceRetired, ProcedurePublished
from services.catalogue.domain.definitions import service_id
from services.catalogue.domain.model import ServiceStatus
from services.catalogue.service import importer
from tests.catalogue.fakes import FakeCatalogueUnitOfWork

from .conftest import ADMIN, H22_TRANSPORT, procedure_input, service_input


def batch() -> dict[str, Any]:
    return {
        "procedures": [procedure_input().model_dump(mode="json"), {"code": "1.000002", "name": "Thiếu trường"}],
        "services": [service_input().model_dump(mode="json"),
                     service_input(agency="000.99.99.H99").model_dump(mode="json")],
    }  # fmt: skip


async def run(uow: FakeCatalogueUnitOfWork, body: dict[str, Any], *, dry_run: bool = False) -> importer.Report:
    rows = importer.parse(json.dumps(body).encode(), "application/json", None)
    async with uow:
        report = await importer.run(uow, ADMIN, rows, dry_run=dry_run)
        await uow.commit()
    return report


async def test_each_row_has_its_outcome_and_a_rejected_row_writes_nothing(uow: FakeCatalogueUnitOfWork) -> None:
    report = await run(uow, batch())
    assert [(r.kind, r.row, r.outcome) for r in report.rows] == [
        ("procedures", 1, "created"), ("procedures", 2, "rejected"), ("services", 1, "created"),
        ("services", 2, "rejected")]  # fmt: skip
    assert report.summary == importer.Summary(created=2, updated=0, unchanged=0, rejected=2)
    assert report.rows[3].errors == [importer.RowError("agency_code", "No agency 000.99.99.H99.")]
    assert {e.field for e in report.rows[1].errors} >= {"level", "processing_days"}
    assert set(uow.state.procedures) == {"1.002804"} and len(uow.state.services) == 1
    assert uow.types() == [ProcedurePublished.TYPE, OnlineServicePublished.TYPE]


async def test_an_unchanged_re_import_emits_nothing(uow: FakeCatalogueUnitOfWork) -> None:
    await run(uow, batch())
    emitted, audited = len(uow.emitted), len(uow.state.audit)
    again = await run(uow, batch())
    assert again.summary == importer.Summary(created=0, updated=0, unchanged=2, rejected=2)
    assert len(uow.emitted) == emitted and len(uow.state.audit) == audited


async def test_a_dry_run_reports_but_leaves_nothing(uow: FakeCatalogueUnitOfWork) -> None:
    report = await run(uow, batch(), dry_run=True)
    assert report.dry_run and report.summary.created == 2
    assert uow.state.procedures == {} and uow.state.services == {} and uow.state.audit == []
    assert uow.emitted == []


async def test_a_retired_row_retires_what_exists(uow: FakeCatalogueUnitOfWork) -> None:
    await run(uow, batch())
    body = {"services": [{**service_input().model_dump(mode="json"), "status": "retired"}]}
    report = await run(uow, body)
    assert [r.outcome for r in report.rows] == ["updated"]
    (retired,) = uow.events(OnlineServiceRetired)
    assert (retired.service_id, retired.last_version) == (service_id("1.002804", H22_TRANSPORT), 1)
    assert next(iter(uow.state.services.values())).status == ServiceStatus.RETIRED
    again = await run(uow, body)
    assert [r.outcome for r in again.rows] == ["unchanged"] and len(uow.events(OnlineServiceRetired)) == 1
