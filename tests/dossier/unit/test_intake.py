"""Submission and drafts as use cases, on the fake unit of work: what is filed, which events go
out with which data, and every refusal (nothing filed, nothing emitted)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.events.dossier import DossierSubmitted, FeesAssessed, StatusChanged
from services.dossier.domain.catalogue_view import OfferedFee, ServiceNotOffered, UnknownService
from services.dossier.domain.codes import dossier_code
from services.dossier.domain.status import DossierStatus
from services.dossier.service import catalogue_view, intake
from services.kit.calendar import VIETNAM_TZ
from services.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from services.kit.idempotency import IdempotencyKeyReused
from tests.dossier.unit.world import (
    AGENCY,
    APPLICANT,
    CALENDAR,
    ISSUER,
    LIMITS,
    SERVICE_ID,
    citizen,
    offered,
    submission,
    submit,
    uploaded,
    world,
)


async def test_a_complete_dossier_is_filed_numbered_and_announced() -> None:
    uow = world()
    receipt, created = await submit(uow, selected_fees=["PH02"])
    dossier = receipt.dossier
    today = datetime.now(VIETNAM_TZ).date()
    assert created and dossier.code == dossier_code(AGENCY, today, 1)
    stored = uow.dossiers.rows[dossier.id]
    assert (stored.code, stored.owner, stored.status, stored.fee_total) == (dossier.code, "citizen-a",
                                                                          DossierStatus.NEW, 160_000)  # fmt: skip
    assert [f.code for f in stored.fees] == ["LP01", "PH02"]
    assert [a.component_code for a in receipt.documents] == ["TP01"]
    assert all(a.dossier_id == dossier.id for a in uow.attachments.rows.values())
    assert [(e.previous, e.status, e.source) for e in uow.timelines.entries] == [(None, DossierStatus.NEW, "portal")]

    assert uow.types() == [DossierSubmitted.TYPE, FeesAssessed.TYPE, StatusChanged.TYPE]
    submitted, assessed, first = (event.data for event in uow.emitted)
    assert {submitted["code"], assessed["code"], first["code"]} == {dossier.code}
    assert submitted["applicant"]["identifier"] == APPLICANT.identifier
    assert [a["component_code"] for a in submitted["attachments"]] == ["TP01"]
    assert (assessed["owner"], assessed["total"], [line["code"] for line in assessed["lines"]]) == (
        "citizen-a", 160_000, ["LP01", "PH02"])  # fmt: skip
    assert (first["previous"], first["status"], first["source"]) == (None, 1, "portal")
    assert all(event.subject == dossier.id for event in uow.emitted)
    assert receipt.lookup_secret is not None and f"code={dossier.code}" in receipt.qr_text


async def test_numbers_follow_each_other_per_agency_and_day() -> None:
    uow = world()
    first, _ = await submit(uow)
    second, _ = await submit(uow, citizen("citizen-b"))
    assert (first.dossier.code[-4:], second.dossier.code[-4:]) == ("0001", "0002")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"form": {"ho_ten": ""}}, "ho_ten"),
        ({"form": {"ho_ten": "An", "extra": 1}}, None),
        ({"selected_fees": ["XX99"]}, "selected_fees.0"),
    ],
)
async def test_an_incomplete_or_wrong_dossier_is_refused_and_nothing_is_written(
    changes: dict, field: str | None
) -> None:
    uow = world()
    with pytest.raises(ValidationFailed) as refused:
        await submit(uow, **changes)
    if field is not None:
        assert any(field in e["field"] for e in refused.value.extra["errors"])
    assert uow.dossiers.rows == {} and uow.emitted == [] and uow.timelines.entries == []


async def test_a_missing_required_document_is_named() -> None:
    uow = world()
    async with uow:
        with pytest.raises(ValidationFailed) as refused:
            await intake.submit(uow, citizen(), submission((uploaded(uow), "TP02")), idempotency_key=None,
                                limits=LIMITS, calendar=CALENDAR, issuer=ISSUER)  # fmt: skip
    assert [e["field"] for e in refused.value.extra["errors"]] == ["attachments[TP01]"]
    assert uow.dossiers.rows == {} and uow.emitted == []


async def test_someone_elses_or_a_used_file_cannot_be_attached() -> None:
    uow = world()
    theirs = uploaded(uow, owner="citizen-b")
    with pytest.raises(ValidationFailed) as refused:
        await submit(uow, body=submission((theirs, "TP01")))
    assert refused.value.extra["errors"][0]["message"] == "No such attachment of yours."
    filed, _ = await submit(uow)
    used = filed.documents[0].id
    with pytest.raises(ValidationFailed) as again:
        await submit(uow, body=submission((used, "TP01")))
    assert again.value.extra["errors"][0]["message"] == "Already part of a dossier."
    assert len(uow.dossiers.rows) == 1


async def test_limits_are_enforced() -> None:
    uow = world()
    with pytest.raises(PayloadTooLarge):
        await submit(uow, form={"ho_ten": "x" * 5000})
    too_many = [(uploaded(uow), "TP01") for _ in range(LIMITS.max_attachments + 1)]
    with pytest.raises(ValidationFailed):
        await submit(uow, body=submission(*too_many))
    assert uow.dossiers.rows == {}


async def test_a_retired_or_unknown_service_takes_no_dossier() -> None:
    uow = world()
    uow.offered.retire(SERVICE_ID)
    with pytest.raises(ServiceNotOffered):
        await submit(uow)
    with pytest.raises(UnknownService):
        await submit(uow, service_id="5f0c9a8e-0000-4000-8000-00000000ffff")
    assert uow.dossiers.rows == {} and uow.emitted == []


async def test_a_cached_version_replaced_meanwhile_is_not_filed_against() -> None:
    uow = world()
    cache = catalogue_view.OfferedCache()
    cache.put(offered())  # the process remembers version 1
    uow.offered.publish(offered(version=2, revision=2, fees=FEES_V2))
    async with uow:
        body = submission((uploaded(uow), "TP01"))
        receipt, _ = await intake.submit(uow, citizen(), body, idempotency_key=None, limits=LIMITS, calendar=CALENDAR,
                                         issuer=ISSUER, offered_cache=cache)  # fmt: skip
        await uow.commit()
    # The filing refused the stale version; the dossier was judged and filed by the current one.
    assert (receipt.dossier.service_version, receipt.dossier.fee_total) == (2, 1_000)
    assert cache.get(SERVICE_ID) is not None and cache.get(SERVICE_ID)[0].version == 2
    assert len(uow.dossiers.rows) == 1 and uow.emitted[0].data["service_version"] == 2


FEES_V2 = (OfferedFee(code="LP01", name="Lệ phí", amount=1_000),)


async def test_a_retry_with_the_same_key_answers_the_same_dossier_and_another_body_is_refused() -> None:
    uow = world()
    body = submission((uploaded(uow), "TP01"))
    first, created = await submit(uow, key="k-1", body=body)
    again, replayed = await submit(uow, key="k-1", body=body)
    assert (created, replayed) == (True, False) and again.dossier.id == first.dossier.id
    assert len(uow.dossiers.rows) == 1 and len(uow.emitted) == 3
    with pytest.raises(IdempotencyKeyReused):
        await submit(uow, key="k-1", form={"ho_ten": "Another"})


async def test_drafts_belong_to_their_owner_are_bounded_and_go_when_submitted() -> None:
    uow = world()
    a, b = citizen("citizen-a"), citizen("citizen-b")
    draft = await intake.save_draft(uow, a, None, SERVICE_ID, {"ho_ten": "An"}, LIMITS)
    assert (await intake.get_draft(uow, a, draft.id)).content == {"ho_ten": "An"}
    with pytest.raises(NotFound):
        await intake.get_draft(uow, b, draft.id)
    with pytest.raises(NotFound):
        await intake.save_draft(uow, b, draft.id, SERVICE_ID, {"ho_ten": "B"}, LIMITS)
    with pytest.raises(NotFound):
        await intake.delete_draft(uow, b, draft.id)
    assert [d.id for d in await intake.list_drafts(uow, b)] == []
    await intake.save_draft(uow, a, None, SERVICE_ID, {}, LIMITS)
    with pytest.raises(Conflict):
        await intake.save_draft(uow, a, None, SERVICE_ID, {}, LIMITS)
    await submit(uow, a, draft_id=draft.id)
    assert draft.id not in uow.drafts.rows and len(await intake.list_drafts(uow, a)) == 1


async def test_the_receipt_is_the_owners_only() -> None:
    uow = world()
    filed, _ = await submit(uow)
    mine = await intake.receipt(uow, citizen("citizen-a"), filed.dossier.id, ISSUER)
    assert mine.dossier.code == filed.dossier.code and [d.id for d in mine.documents] == [filed.documents[0].id]
    with pytest.raises(NotFound):
        await intake.receipt(uow, citizen("citizen-b"), filed.dossier.id, ISSUER)


async def test_a_receipt_time_is_the_submission_time() -> None:
    uow = world()
    at = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
    async with uow:
        receipt, _ = await intake.submit(uow, citizen(), submission((uploaded(uow), "TP01")), idempotency_key=None,
                                         limits=LIMITS, calendar=CALENDAR, issuer=ISSUER, now=at)  # fmt: skip
        await uow.commit()
    assert receipt.dossier.received_at == at and receipt.dossier.code == dossier_code(AGENCY, at.astimezone(
        VIETNAM_TZ).date(), 1)  # fmt: skip
    assert uow.emitted[0].data["received_at"].startswith("2025-12-03T02:00:00")
