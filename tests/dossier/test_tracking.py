"""Following a dossier: the agency's status records (through sync) and payments applied by their
use cases, each in its own transaction, and the owner's supplement, withdrawal and rating on
real HTTP. Every applied change is on the timeline with one ``status_changed`` event; a
duplicate changes nothing; a refused update is recorded with its reason and never applied."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from contracts.events.dossier import DossierRated, StatusChanged
from contracts.events.payment import PaymentSucceeded
from contracts.events.sync import DossierStatusReported, ReportedDossier
from contracts.registry import EVENT_TYPES
from services.dossier.adapters.tables import (
    attachments,
    dossier_history,
    dossier_refused_updates,
    dossiers,
    ratings,
    supplement_requests,
)
from services.dossier.service import tracking
from services.kit.db import Database
from services.kit.tables import outbox
from tests.dossier.test_submission import events, rows
from tests.support.dossier import INTAKE_AGENCY, PNG, Intake

pytestmark = pytest.mark.integration

STATUS_CHANGED = StatusChanged.TYPE
WITHDRAWAL_REQUESTED = "dossier.dossier.withdrawal_requested.v1"
OTHER_AGENCY = "000.00.01.H26"
ASSESSED = 135_000  # the intake service's unconditional fee


class Clock:
    """The agency's times: now, as an agency system reports, and strictly rising."""

    def __init__(self) -> None:
        self.last = datetime.now(UTC)

    def next(self) -> datetime:
        self.last = max(datetime.now(UTC), self.last + timedelta(milliseconds=1))
        return self.last


def record(code: str, status: int, at: datetime, **changes: Any) -> dict[str, Any]:
    """The data of ``sync.dossier.status_reported.v1``."""
    values: dict[str, Any] = {"record_id": f"rec-{uuid.uuid4().hex[:12]}", "code": code,
                              "agency_code": INTAKE_AGENCY, "status": status, "occurred_at": at,
                              "handler": "Bộ phận một cửa", **changes}  # fmt: skip
    return DossierStatusReported(**values).model_dump(mode="json")


def payment(dossier: dict[str, Any], amount: int, at: datetime, order_id: str | None = None) -> dict[str, Any]:
    """The data of ``payment.order.succeeded.v1``."""
    return PaymentSucceeded(
        order_id=order_id or f"order-{uuid.uuid4().hex[:8]}", dossier_id=dossier["dossier_id"],
        dossier_code=dossier["code"], amount=amount, provider="vnpay", receipt_number="BL-0001", paid_at=at,
    ).model_dump(mode="json")  # fmt: skip


async def report(db: Database, data: dict[str, Any]) -> str:
    async with db.transaction() as uow:
        return await tracking.apply_status_report(uow, data)


async def pay(db: Database, data: dict[str, Any]) -> str:
    async with db.transaction() as uow:
        return await tracking.apply_payment(uow, data)


async def walk(db: Database, code: str, clock: Clock, *statuses: int) -> None:
    for status in statuses:
        assert await report(db, record(code, status, clock.next())) == "applied", status


async def changes(db_url: str, dossier_id: str) -> list[tuple[int | None, int]]:
    """The status_changed events of one dossier, in outbox order, as (previous, status)."""
    return [(e["previous"], e["status"]) for e in await events(db_url, STATUS_CHANGED) if e["_key"] == dossier_id]


async def dossier_row(db_url: str, dossier_id: str) -> Any:
    (row,) = await rows(db_url, select(dossiers).where(dossiers.c.id == dossier_id))
    return row


async def history_count(db_url: str) -> int:
    return int((await rows(db_url, select(func.count()).select_from(dossier_history)))[0][0])


async def outbox_count(db_url: str) -> int:
    return int((await rows(db_url, select(func.count()).select_from(outbox)))[0][0])


async def refusals(db_url: str) -> list[Any]:
    return await rows(db_url, select(dossier_refused_updates).order_by(dossier_refused_updates.c.id))


async def filed(intake: Intake, api: httpx.AsyncClient, sub: str = "citizen-1") -> dict[str, Any]:
    answer = await intake.submit(api, intake.citizen(sub))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_a_dossier_through_supplement_to_result_and_one_rating(intake: Intake, dossier_db: Database) -> None:
    citizen, clock = intake.citizen(), Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
        dossier_id, code = receipt["dossier_id"], receipt["code"]
        path = f"/dossiers/{dossier_id}"
        early = await api.post(f"{path}/rating", headers=citizen, json={"score": 5})
        assert early.status_code == 409 and early.json()["type"] == "/problems/conflict"

        await walk(dossier_db, code, clock, 2, 4, 5)
        assert (await api.get(path, headers=citizen)).json()["status"] == 5
        (request,) = await rows(intake.db_url, select(supplement_requests))
        assert request.fulfilled_at is None

        extra = await intake.upload(api, citizen, PNG, "giay-kham.png", "image/png")
        wanted = {"attachments": [{"id": extra.json()["id"], "component_code": "TP02"}], "note": "Bổ sung giấy khám"}
        supplemented = await api.post(f"{path}/supplements", headers=citizen, json=wanted)
        assert supplemented.status_code == 200, supplemented.text
        assert supplemented.json()["status"] == 4
        again = await api.post(f"{path}/supplements", headers=citizen, json=wanted)
        assert again.status_code == 409  # nothing asked for any more
        (request,) = await rows(intake.db_url, select(supplement_requests))
        assert request.fulfilled_at is not None
        (bound,) = await rows(intake.db_url, select(attachments).where(attachments.c.id == extra.json()["id"]))
        assert (str(bound.dossier_id), bound.supplement_id, bound.component_code) == (dossier_id, request.id, "TP02")
        # The agency that asked gets the documents: an event the sync service delivers to it.
        (sent,) = await rows(
            intake.db_url, select(outbox.c.data).where(outbox.c.type == "dossier.dossier.supplemented.v1")
        )
        assert (sent.data["code"], sent.data["supplement_id"], sent.data["note"]) == (
            code,
            request.id,
            "Bổ sung giấy khám",
        )
        assert [(a["id"], a["component_code"]) for a in sent.data["attachments"]] == [(extra.json()["id"], "TP02")]

        await walk(dossier_db, code, clock, 9)
        assert (await api.post(f"{path}/rating", headers=citizen, json={"score": 5})).status_code == 409
        await walk(dossier_db, code, clock, 10)

        rated = await api.post(f"{path}/rating", headers=citizen, json={"score": 4, "comment": "Nhanh, đúng hẹn"})
        assert rated.status_code == 201, rated.text
        assert (rated.json()["score"], rated.json()["comment"]) == (4, "Nhanh, đúng hẹn")
        twice = await api.post(f"{path}/rating", headers=citizen, json={"score": 1})
        assert twice.status_code == 409 and twice.json()["type"] == "/problems/conflict"

        timeline = await api.get(f"{path}/timeline", headers=citizen)
        detail = (await api.get(path, headers=citizen)).json()

    assert timeline.status_code == 200
    steps = [(t["previous"], t["status"], t["source"]) for t in timeline.json()["items"]]
    assert steps == [(None, 1, "portal"), (1, 2, "agency"), (2, 4, "agency"), (4, 5, "agency"), (5, 4, "owner"),
                     (4, 9, "agency"), (9, 10, "agency")]  # fmt: skip
    items = timeline.json()["items"]
    assert [t["occurred_at"] for t in items] == sorted(t["occurred_at"] for t in items)
    assert items[4]["note"] == "Bổ sung giấy khám" and items[-1]["status_label"] == "Đã trả kết quả"
    assert detail["timeline"] == items
    assert detail["status"] == 10 and detail["finished_at"] and detail["returned_at"]
    assert detail["rating"] == {"score": 4, "comment": "Nhanh, đúng hẹn"}
    # The files in the order they came: the filing's, then the supplement's.
    shown = [(d["id"], d["component_code"], d["content_type"]) for d in detail["documents"]]
    assert shown == [*[(d["id"], d["component_code"], d["content_type"]) for d in receipt["documents"]],
                     (extra.json()["id"], "TP02", "image/png")]  # fmt: skip

    assert await changes(intake.db_url, dossier_id) == [(None, 1), (1, 2), (2, 4), (4, 5), (5, 4), (4, 9), (9, 10)]
    for data in await events(intake.db_url, STATUS_CHANGED):
        EVENT_TYPES[STATUS_CHANGED].model_validate({k: v for k, v in data.items() if k != "_key"})
    rated_events = await events(intake.db_url, DossierRated.TYPE)
    assert [(e["dossier_id"], e["score"]) for e in rated_events] == [(dossier_id, 4)]
    EVENT_TYPES[DossierRated.TYPE].model_validate({k: v for k, v in rated_events[0].items() if k != "_key"})
    assert len(await rows(intake.db_url, select(ratings))) == 1
    assert await refusals(intake.db_url) == []


async def test_the_same_record_twice_changes_nothing(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    accepted = record(receipt["code"], 2, clock.next())
    assert await report(dossier_db, accepted) == "applied"
    history, sent = await history_count(intake.db_url), await outbox_count(intake.db_url)
    row = await dossier_row(intake.db_url, receipt["dossier_id"])

    assert await report(dossier_db, accepted) == "duplicate"
    # Also when it comes back after a newer record: still a duplicate, not a stale update.
    await walk(dossier_db, receipt["code"], clock, 4)
    assert await report(dossier_db, accepted) == "duplicate"

    assert await history_count(intake.db_url) == history + 1
    assert await outbox_count(intake.db_url) == sent + 1
    assert (await dossier_row(intake.db_url, receipt["dossier_id"])).status == 4 != row.status
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1), (1, 2), (2, 4)]
    assert await refusals(intake.db_url) == []


async def test_an_older_update_after_a_newer_one_is_recorded_as_stale(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    older_at, newer_at = clock.next(), clock.next()
    assert await report(dossier_db, record(receipt["code"], 2, newer_at)) == "applied"
    before = await dossier_row(intake.db_url, receipt["dossier_id"])
    older = record(receipt["code"], 4, older_at)
    assert await report(dossier_db, older) == "stale"

    after = await dossier_row(intake.db_url, receipt["dossier_id"])
    assert after == before and after.status == 2 and after.last_update_at == newer_at
    (refused,) = await refusals(intake.db_url)
    assert (refused.reason, refused.record_id, str(refused.dossier_id)) == ("stale", older["record_id"],
                                                                            receipt["dossier_id"])  # fmt: skip
    assert (refused.dossier_code, refused.source, refused.payload) == (receipt["code"], "agency", older)
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1), (1, 2)]


async def test_a_transition_not_allowed_is_recorded_and_not_applied(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    history = await history_count(intake.db_url)
    for status in (10, 9, 4):  # none of them follows "newly registered"
        assert await report(dossier_db, record(receipt["code"], status, clock.next())) == "not-allowed"
    assert (await dossier_row(intake.db_url, receipt["dossier_id"])).status == 1
    assert await history_count(intake.db_url) == history
    found = await refusals(intake.db_url)
    assert [(r.reason, r.payload["status"]) for r in found] == [("not-allowed", 10), ("not-allowed", 9),
                                                                 ("not-allowed", 4)]  # fmt: skip
    assert "cannot move to status 10" in found[0].detail
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1)]

    # The same status again is a progress note on the timeline, not a change.
    assert await report(dossier_db, record(receipt["code"], 1, clock.next(), note="Đang kiểm tra")) == "noted"
    assert await history_count(intake.db_url) == history + 1
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1)]


async def test_an_update_from_another_agency_is_refused(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    foreign = record(receipt["code"], 2, clock.next(), agency_code=OTHER_AGENCY)
    assert await report(dossier_db, foreign) == "wrong-agency"
    assert (await dossier_row(intake.db_url, receipt["dossier_id"])).status == 1
    (refused,) = await refusals(intake.db_url)
    assert (refused.reason, refused.record_id) == ("wrong-agency", foreign["record_id"])
    assert INTAKE_AGENCY in refused.detail
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1)]
    # Its own agency's record with the same id still applies: the refused one was not kept as applied.
    assert await report(dossier_db, {**foreign, "agency_code": INTAKE_AGENCY}) == "applied"


async def test_a_dossier_filed_at_the_agency_is_mirrored_on_first_sight(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    code = f"{INTAKE_AGENCY}-250630-0417"
    described = ReportedDossier(
        procedure_code="1.002804", procedure_name="Cấp đổi giấy phép lái xe", applicant_kind="citizen",
        applicant_identifier="036090001122", applicant_name="Lê Văn Cường",
        received_at=datetime(2025, 6, 30, 2, 0, tzinfo=UTC), appointment_date=date(2025, 7, 7),
    ).model_dump(mode="json")  # fmt: skip
    first = record(code, 2, clock.next(), dossier=described)
    assert await report(dossier_db, first) == "mirrored"
    assert await report(dossier_db, first) == "duplicate"

    (row,) = await rows(intake.db_url, select(dossiers).where(dossiers.c.code == code))
    assert (row.origin, row.owner, row.status, row.agency_code) == ("mirrored", None, 2, INTAKE_AGENCY)
    assert row.applicant["name"] == "Lê Văn Cường"
    assert await changes(intake.db_url, str(row.id)) == [(None, 2)]
    (mirrored,) = [e for e in await events(intake.db_url, STATUS_CHANGED) if e["_key"] == str(row.id)]
    assert mirrored["origin"] == "mirrored"

    await walk(dossier_db, code, clock, 4)
    async with intake.client() as api:
        found = await api.get("/lookup", params={"code": code, "verifier": "1122"})
        assert found.status_code == 200, found.text
        assert (found.json()["status"], found.json()["appointment_date"]) == (4, "2025-07-07")
        assert "Lê Văn Cường" not in found.text and "036090001122" not in found.text
        assert (await api.get("/lookup", params={"code": code, "verifier": "2345"})).status_code == 404
        # It belongs to no account: nobody lists it as theirs, its agency's officials do.
        assert (await api.get("/dossiers", headers=intake.citizen())).json()["items"] == []
        listed = await api.get("/dossiers", headers=intake.official(INTAKE_AGENCY))
        assert [d["code"] for d in listed.json()["items"]] == [code]

    unknown = record(f"{INTAKE_AGENCY}-250630-0418", 2, clock.next())
    assert await report(dossier_db, unknown) == "unknown-dossier"
    assert len(await rows(intake.db_url, select(dossiers.c.id))) == 1
    (refused,) = await refusals(intake.db_url)
    assert (refused.reason, refused.dossier_code, refused.dossier_id) == ("unknown-dossier", unknown["code"], None)


async def test_withdrawal_is_allowed_until_the_dossier_is_finished(intake: Intake, dossier_db: Database) -> None:
    citizen, clock = intake.citizen(), Clock()
    async with intake.client() as api:
        open_one, done = await filed(intake, api), await filed(intake, api)
        await walk(dossier_db, open_one["code"], clock, 2, 4)
        withdrawn = await api.post(f"/dossiers/{open_one['dossier_id']}/withdrawal", headers=citizen,
                                   json={"reason": "Đã nộp nhầm"})  # fmt: skip
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == 7
        pending = await api.post(f"/dossiers/{open_one['dossier_id']}/withdrawal", headers=citizen, json={})
        assert pending.status_code == 409  # already asked
        (asked,) = await rows(intake.db_url, select(outbox.c.data).where(outbox.c.type == WITHDRAWAL_REQUESTED))
        assert (asked.data["code"], asked.data["reason"]) == (open_one["code"], "Đã nộp nhầm")
        await walk(dossier_db, open_one["code"], clock, 8)

        await walk(dossier_db, done["code"], clock, 2, 9, 10)
        history = await history_count(intake.db_url)
        for dossier in (open_one, done):
            late = await api.post(f"/dossiers/{dossier['dossier_id']}/withdrawal", headers=citizen, json={})
            assert late.status_code == 409 and late.json()["type"] == "/problems/conflict", late.text
        assert await history_count(intake.db_url) == history

    assert await changes(intake.db_url, open_one["dossier_id"]) == [(None, 1), (1, 2), (2, 4), (4, 7), (7, 8)]
    assert await changes(intake.db_url, done["dossier_id"]) == [(None, 1), (1, 2), (2, 9), (9, 10)]
    timeline = await rows(intake.db_url, select(dossier_history).where(dossier_history.c.status == 7))
    assert [(r.source, r.actor, r.note) for r in timeline] == [("owner", "citizen-1", "Đã nộp nhầm")]
    assert (await dossier_row(intake.db_url, done["dossier_id"])).status == 10


async def test_a_payment_of_the_assessed_amount_is_recorded_once(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
        await walk(dossier_db, receipt["code"], clock, 6)

        short = payment(receipt, ASSESSED - 35_000, clock.next())
        assert await pay(dossier_db, short) == "amount-mismatch"
        row = await dossier_row(intake.db_url, receipt["dossier_id"])
        assert (row.fees_paid_at, row.status) == (None, 6)
        (refused,) = await refusals(intake.db_url)
        assert (refused.reason, refused.source, refused.record_id) == ("amount-mismatch", "payment", short["order_id"])

        paid_at = clock.next()
        paid = payment(receipt, ASSESSED, paid_at)
        assert await pay(dossier_db, paid) == "applied"
        history, sent = await history_count(intake.db_url), await outbox_count(intake.db_url)
        assert await pay(dossier_db, paid) == "duplicate"
        assert await pay(dossier_db, payment(receipt, ASSESSED, clock.next())) == "duplicate"  # another order
        assert (await history_count(intake.db_url), await outbox_count(intake.db_url)) == (history, sent)

        row = await dossier_row(intake.db_url, receipt["dossier_id"])
        assert (row.fees_paid_at, row.status) == (paid_at, 4)  # resumed processing
        shown = await api.get(f"/dossiers/{receipt['dossier_id']}/receipt", headers=intake.citizen())
        assert datetime.fromisoformat(shown.json()["fees_paid_at"]) == paid_at

        # Paid before the agency asks: recorded on the timeline, the status does not change.
        early = await filed(intake, api, sub="citizen-2")
        assert await pay(dossier_db, payment(early, ASSESSED, clock.next())) == "applied"
        assert (await dossier_row(intake.db_url, early["dossier_id"])).fees_paid_at is not None

    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1), (1, 6), (6, 4)]
    assert await changes(intake.db_url, early["dossier_id"]) == [(None, 1)]
    notes = await rows(intake.db_url, select(dossier_history).where(dossier_history.c.source == "payment"))
    assert {(str(n.dossier_id), n.record_id) for n in notes} == {
        (receipt["dossier_id"], f"payment:{paid['order_id']}"),
        (early["dossier_id"], notes[1].record_id),
    }
    assert len(await refusals(intake.db_url)) == 1


def described(identifier: str, **changes: Any) -> dict[str, Any]:
    return ReportedDossier(
        procedure_code="1.002804", procedure_name="Cấp đổi giấy phép lái xe",
        applicant_kind="enterprise" if "-" in identifier or len(identifier) == 10 else "citizen",
        applicant_identifier=identifier, **changes,
    ).model_dump(mode="json")  # fmt: skip


async def test_a_record_describing_another_applicant_under_a_portal_code_is_a_conflict(
    intake: Intake, dossier_db: Database
) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    clash = record(receipt["code"], 2, clock.next(), dossier=described("036090001122"))
    assert await report(dossier_db, clash) == "code-conflict"
    assert (await dossier_row(intake.db_url, receipt["dossier_id"])).status == 1
    same = record(receipt["code"], 2, clock.next(), dossier=described("001099012345"))
    assert await report(dossier_db, same) == "applied"


async def test_a_time_without_its_offset_is_refused_as_breaking_the_contract(dossier_db: Database) -> None:
    from services.kit.errors import PermanentFailure

    data = record(f"{INTAKE_AGENCY}-250630-0001", 2, datetime.now(UTC), dossier=described("036090001122"))
    data["occurred_at"] = "2025-06-30T09:00:00"  # naive: which zone?
    with pytest.raises(PermanentFailure, match="occurred_at"):
        await report(dossier_db, data)


async def test_a_branch_of_an_enterprise_is_looked_up_by_the_last_digits_of_its_tax_code(
    intake: Intake, dossier_db: Database
) -> None:
    code = f"{INTAKE_AGENCY}-250630-0500"
    first_seen_done = record(code, 9, datetime.now(UTC), dossier=described("0101234565-001"))
    assert await report(dossier_db, first_seen_done) == "mirrored"
    (row,) = await rows(intake.db_url, select(dossiers).where(dossiers.c.code == code))
    assert row.finished_at is not None  # first seen as processed: its end is known
    async with intake.client() as api:
        found = await api.get("/lookup", params={"code": code, "verifier": "5001"})
        assert found.status_code == 200 and found.json()["status"] == 9


async def test_a_supplement_names_documents_of_the_procedure_only(intake: Intake, dossier_db: Database) -> None:
    citizen, clock = intake.citizen(), Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
        await walk(dossier_db, receipt["code"], clock, 2, 5)
        upload = await intake.upload(api, citizen, PNG, "them.png", "image/png")
        body = {"attachments": [{"id": upload.json()["id"], "component_code": "TP99"}]}
        refused = await api.post(f"/dossiers/{receipt['dossier_id']}/supplements", headers=citizen, json=body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "attachments.0.component_code"
        assert (await dossier_row(intake.db_url, receipt["dossier_id"])).status == 5
        body["attachments"][0]["component_code"] = "TP02"
        done = await api.post(f"/dossiers/{receipt['dossier_id']}/supplements", headers=citizen, json=body)
        assert done.status_code == 200 and done.json()["status"] == 4


async def test_a_batch_of_records_follows_the_same_rules_as_one_by_one(intake: Intake, dossier_db: Database) -> None:
    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    desk = f"{INTAKE_AGENCY}-250630-0900"
    accepted = record(receipt["code"], 2, clock.next())
    older = record(receipt["code"], 4, datetime(2020, 1, 1, tzinfo=UTC))
    batch = [
        accepted,
        accepted,  # the same record again in the same batch
        record(receipt["code"], 10, clock.next()),  # 2 → 10 is not allowed
        record(receipt["code"], 4, clock.next()),
        older,  # older than what this batch already applied
        record(desk, 2, clock.next(), dossier=described("036090001122")),  # mirrored ...
        record(desk, 4, clock.next()),  # ... and moved on within the same batch
        record(f"{INTAKE_AGENCY}-250630-0901", 2, clock.next()),  # unknown, nothing to mirror
    ]
    async with dossier_db.transaction() as uow:
        outcomes = await tracking.apply_status_reports(uow, batch)
    assert outcomes == ["applied", "duplicate", "not-allowed", "applied", "stale", "mirrored", "applied",
                        "unknown-dossier"]  # fmt: skip
    portal = await dossier_row(intake.db_url, receipt["dossier_id"])
    (mirror,) = await rows(intake.db_url, select(dossiers).where(dossiers.c.code == desk))
    assert (portal.status, mirror.status, mirror.origin) == (4, 4, "mirrored")
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1), (1, 2), (2, 4)]
    assert await changes(intake.db_url, str(mirror.id)) == [(None, 2), (2, 4)]
    assert [r.reason for r in await refusals(intake.db_url)] == ["not-allowed", "stale", "unknown-dossier"]
    async with dossier_db.transaction() as uow:  # the whole batch again: nothing more happens
        again = await tracking.apply_status_reports(uow, batch)
    assert again.count("duplicate") == 5 and await changes(intake.db_url, str(mirror.id)) == [(None, 2), (2, 4)]


async def test_the_batched_events_of_sync_apply_their_records_in_order(intake: Intake, dossier_db: Database) -> None:
    from services.kit.errors import PermanentFailure

    clock = Clock()
    async with intake.client() as api:
        receipt = await filed(intake, api)
    first = {"agency_code": INTAKE_AGENCY, "records": [record(receipt["code"], 2, clock.next()),
                                                        record(receipt["code"], 4, clock.next())]}  # fmt: skip
    second = {"agency_code": INTAKE_AGENCY, "records": [record(receipt["code"], 9, clock.next())]}
    async with dossier_db.transaction() as uow:
        assert await tracking.apply_status_batches(uow, [first, second]) == ["applied", "applied", "applied"]
    assert await changes(intake.db_url, receipt["dossier_id"]) == [(None, 1), (1, 2), (2, 4), (4, 9)]
    broken = {"agency_code": INTAKE_AGENCY, "records": [{**record(receipt["code"], 10, clock.next()), "status": 11}]}
    with pytest.raises(PermanentFailure, match=r"records\.0\.status"):
        async with dossier_db.transaction() as uow:
            await tracking.apply_status_batches(uow, [broken])
    with pytest.raises(PermanentFailure):
        async with dossier_db.transaction() as uow:
            await tracking.apply_status_batches(uow, [{"agency_code": INTAKE_AGENCY, "records": []}])
    assert (await dossier_row(intake.db_url, receipt["dossier_id"])).status == 9
