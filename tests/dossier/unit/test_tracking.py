"""Following a dossier as use cases, on the fake unit of work: who sees what, the owner's
withdrawal, supplement and rating with their rules and events, and the status records and
payments other services send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.events.dossier import DossierRated, DossierSupplemented, StatusChanged, WithdrawalRequested
from contracts.events.payment import PaymentSucceeded
from contracts.events.sync import DossierStatusReported, ReportedDossier
from services.dossier.domain.dossier import Dossier
from services.dossier.domain.status import DossierStatus
from services.dossier.service import intake, lookup, tracking
from services.dossier.service.intake import AttachmentRef
from services.kit import pseudonyms
from services.kit.errors import Conflict, NotFound, RateLimited, ValidationFailed
from tests.dossier.fakes import FakeDossierUnitOfWork
from tests.dossier.unit.world import AGENCY, ISSUER, OTHER_AGENCY, citizen, official, submit, uploaded, world

S = DossierStatus
START = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)  # after any filing in the tests


async def filed(uow: FakeDossierUnitOfWork, owner: str = "citizen-a") -> Dossier:
    receipt, _ = await submit(uow, citizen(owner))
    uow.emitted.clear()
    return receipt.dossier


def record(code: str, status: int, minutes: int, *, agency: str = AGENCY, **changes: Any) -> dict[str, Any]:
    return DossierStatusReported(
        record_id=f"r-{code}-{status}-{minutes}", code=code, agency_code=agency, status=status,
        occurred_at=START + timedelta(minutes=minutes), **changes,
    ).model_dump(mode="json")  # fmt: skip


async def report(uow: FakeDossierUnitOfWork, *records: dict[str, Any], secret: str | None = None) -> list[str]:
    async with uow:
        outcomes = await tracking.apply_status_reports(uow, list(records), applicant_secret=secret)
        await uow.commit()
    return outcomes


async def walk(uow: FakeDossierUnitOfWork, code: str, *statuses: int) -> None:
    for minutes, status in enumerate(statuses, start=1):
        assert await report(uow, record(code, status, minutes)) == ["applied"], status
    uow.emitted.clear()


# --- who sees what --------------------------------------------------------------------------


async def test_one_citizen_never_sees_anothers_dossier() -> None:
    uow = world()
    a, b = await filed(uow, "citizen-a"), await filed(uow, "citizen-b")
    mine = await tracking.list_dossiers(uow, citizen("citizen-a"), agency=None, status=None, cursor=None, limit=10)
    assert [d.id for d in mine.items] == [a.id] and mine.next is None
    for use in (tracking.dossier_detail, tracking.timeline):
        with pytest.raises(NotFound):
            await use(uow, citizen("citizen-a"), b.id)
    with pytest.raises(NotFound):
        await tracking.attachment_for(uow, citizen("citizen-a"), b.id, (await uow.attachments.of(b.id))[0].id)
    with pytest.raises(NotFound):
        await tracking.withdraw(uow, citizen("citizen-a"), b.id, None)
    with pytest.raises(NotFound):
        await tracking.rate(uow, citizen("citizen-a"), b.id, 5, None)
    assert uow.dossiers.rows[b.id].status is S.NEW and uow.emitted == []
    # A file of one's own dossier is not found under another dossier's id.
    with pytest.raises(NotFound):
        await tracking.attachment_for(uow, citizen("citizen-b"), b.id, (await uow.attachments.of(a.id))[0].id)


async def test_officials_see_their_agencies_dossiers_only() -> None:
    uow = world()
    a = await filed(uow)
    here = await tracking.list_dossiers(uow, official(AGENCY), agency=None, status=None, cursor=None, limit=10)
    assert [d.id for d in here.items] == [a.id]
    assert (await tracking.dossier_detail(uow, official(AGENCY), a.id)).dossier.id == a.id
    elsewhere = await tracking.list_dossiers(uow, official(OTHER_AGENCY), agency=None, status=None, cursor=None,
                                             limit=10)  # fmt: skip
    assert elsewhere.items == []
    with pytest.raises(NotFound):
        await tracking.dossier_detail(uow, official(OTHER_AGENCY), a.id)
    with pytest.raises(NotFound):
        await tracking.list_dossiers(uow, official(OTHER_AGENCY), agency=AGENCY, status=None, cursor=None, limit=10)
    with pytest.raises(NotFound):  # a citizen asking for an agency's list
        await tracking.list_dossiers(uow, citizen(), agency=AGENCY, status=None, cursor=None, limit=10)


async def test_the_list_pages_newest_first_with_a_cursor() -> None:
    uow = world()
    made = [await filed(uow) for _ in range(3)]
    first = await tracking.list_dossiers(uow, citizen(), agency=None, status=None, cursor=None, limit=2)
    assert [d.id for d in first.items] == [made[2].id, made[1].id] and first.next is not None
    second = await tracking.list_dossiers(uow, citizen(), agency=None, status=None, cursor=first.next, limit=2)
    assert [d.id for d in second.items] == [made[0].id] and second.next is None
    with pytest.raises(Exception, match="cursor"):
        await tracking.list_dossiers(uow, citizen(), agency=None, status=None, cursor="not-ours", limit=2)


async def test_a_mirrored_dossier_is_seen_by_its_applicant_through_the_pseudonym() -> None:
    uow = world()
    described = ReportedDossier(procedure_code="1.0", applicant_kind="citizen", applicant_identifier="001099099999")
    assert await report(uow, record("DESK-1", 2, 1, dossier=described), secret="k" * 32) == ["mirrored"]
    key = pseudonyms.applicant_key("k" * 32, "001099099999")
    seen = await tracking.list_dossiers(uow, citizen("someone", applicant_key=key), agency=None, status=None,
                                        cursor=None, limit=10)  # fmt: skip
    assert [d.code for d in seen.items] == ["DESK-1"]
    others = await tracking.list_dossiers(uow, citizen("other"), agency=None, status=None, cursor=None, limit=10)
    assert others.items == []


# --- the owner's actions --------------------------------------------------------------------


async def test_a_withdrawal_is_asked_once_and_announced() -> None:
    uow = world()
    dossier = await filed(uow)
    async with uow:
        withdrawn = await tracking.withdraw(uow, citizen(), dossier.id, "Nộp nhầm")
        await uow.commit()
    assert withdrawn.status is S.WITHDRAWAL_REQUESTED
    assert uow.dossiers.rows[dossier.id].status is S.WITHDRAWAL_REQUESTED
    assert uow.types() == [StatusChanged.TYPE, WithdrawalRequested.TYPE]
    changed, asked = (e.data for e in uow.emitted)
    assert (changed["previous"], changed["status"], changed["source"]) == (1, 7, "owner")
    assert (asked["code"], asked["agency_code"], asked["reason"]) == (dossier.code, AGENCY, "Nộp nhầm")
    assert uow.timelines.entries[-1].note == "Nộp nhầm"
    with pytest.raises(Conflict):
        await tracking.withdraw(uow, citizen(), dossier.id, None)


async def test_a_finished_dossier_cannot_be_withdrawn() -> None:
    uow = world()
    dossier = await filed(uow)
    await walk(uow, dossier.code, 2, 4, 9, 10)
    with pytest.raises(Conflict):
        await tracking.withdraw(uow, citizen(), dossier.id, None)
    assert uow.dossiers.rows[dossier.id].status is S.RESULT_RETURNED and uow.emitted == []


async def test_a_supplement_answers_the_open_request_and_resumes_processing() -> None:
    uow = world()
    dossier = await filed(uow)
    extra = uploaded(uow)
    with pytest.raises(Conflict):  # nothing asked for yet
        await tracking.supplement(uow, citizen(), dossier.id, [AttachmentRef(extra, "TP02")], None)
    await walk(uow, dossier.code, 2, 4, 5)
    (request,) = uow.supplements.rows.values()
    with pytest.raises(ValidationFailed):  # a document the procedure does not have
        await tracking.supplement(uow, citizen(), dossier.id, [AttachmentRef(extra, "TP99")], None)
    async with uow:
        resumed = await tracking.supplement(uow, citizen(), dossier.id, [AttachmentRef(extra, "TP02")], "Bổ sung")
        await uow.commit()
    assert resumed.status is S.PROCESSING and uow.dossiers.rows[dossier.id].status is S.PROCESSING
    assert uow.attachments.rows[extra].supplement_id == request.id
    assert uow.supplements.rows[request.id].fulfilled_at is not None
    assert uow.types() == [StatusChanged.TYPE, DossierSupplemented.TYPE]
    sent = uow.emitted[1].data
    assert (sent["supplement_id"], sent["note"], [a["id"] for a in sent["attachments"]]) == (request.id, "Bổ sung",
                                                                                            [extra])  # fmt: skip
    assert [a["component_code"] for a in sent["attachments"]] == ["TP02"]
    with pytest.raises(Conflict):
        await tracking.supplement(uow, citizen(), dossier.id, [AttachmentRef(uploaded(uow), "TP02")], None)


async def test_a_dossier_is_rated_once_after_its_result_is_returned() -> None:
    uow = world()
    dossier = await filed(uow)
    with pytest.raises(Conflict):
        await tracking.rate(uow, citizen(), dossier.id, 5, None)
    await walk(uow, dossier.code, 2, 4, 9, 10)
    async with uow:
        rating = await tracking.rate(uow, citizen(), dossier.id, 4, "Nhanh")
        await uow.commit()
    assert (rating.score, rating.comment) == (4, "Nhanh") and uow.ratings.rows[dossier.id] == rating
    assert uow.types() == [DossierRated.TYPE]
    assert (uow.emitted[0].data["score"], uow.emitted[0].data["procedure_code"]) == (4, dossier.procedure_code)
    with pytest.raises(Conflict):
        await tracking.rate(uow, citizen(), dossier.id, 1, None)
    assert uow.ratings.rows[dossier.id].score == 4
    detail = await tracking.dossier_detail(uow, citizen(), dossier.id)
    assert detail.rating == rating and [e.status for e in detail.timeline][-1] is S.RESULT_RETURNED


# --- agencies' records and payments ---------------------------------------------------------


async def test_agency_records_are_applied_in_order_and_the_rest_refused() -> None:
    uow = world()
    dossier = await filed(uow)
    code = dossier.code
    outcomes = await report(
        uow,
        record(code, 2, 1),
        record(code, 2, 1),  # the same record again
        record(code, 4, 3),
        record(code, 2, 2),  # older than the latest applied
        record(code, 1, 4),  # not allowed from 4
        record(code, 4, 5, note="Đang thẩm định"),  # a progress note
        record(code, 9, 6, agency=OTHER_AGENCY),
        record("NO-SUCH", 2, 7),
    )
    assert outcomes == ["applied", "duplicate", "applied", "stale", "not-allowed", "noted", "wrong-agency",
                        "unknown-dossier"]  # fmt: skip
    stored = uow.dossiers.rows[dossier.id]
    assert stored.status is S.PROCESSING and stored.last_update_at == START + timedelta(minutes=5)
    assert [(e.data["previous"], e.data["status"]) for e in uow.emitted] == [(1, 2), (2, 4)]
    assert [r.reason for r in uow.refused.refused] == ["stale", "not-allowed", "wrong-agency", "unknown-dossier"]
    assert uow.timelines.entries[-1].note == "Đang thẩm định"


async def test_a_payment_of_the_assessed_total_resumes_processing_once() -> None:
    uow = world()
    dossier = await filed(uow)
    await walk(uow, dossier.code, 2, 6)

    def paid(amount: int) -> dict[str, Any]:
        return PaymentSucceeded(order_id="o-1", dossier_id=dossier.id, dossier_code=dossier.code, amount=amount,
                                provider="vnpay", receipt_number="BL-1", paid_at=START + timedelta(hours=1),
                                ).model_dump(mode="json")  # fmt: skip

    async with uow:
        assert await tracking.apply_payment(uow, paid(1)) == "amount-mismatch"
        assert await tracking.apply_payment(uow, paid(dossier.fee_total)) == "applied"
        assert await tracking.apply_payment(uow, paid(dossier.fee_total)) == "duplicate"
        await uow.commit()
    stored = uow.dossiers.rows[dossier.id]
    assert stored.status is S.PROCESSING and stored.fees_paid_at == START + timedelta(hours=1)
    assert [(e.data["previous"], e.data["status"], e.data["source"]) for e in uow.emitted] == [(6, 4, "payment")]
    assert [r.reason for r in uow.refused.refused] == ["amount-mismatch"]


# --- the public lookup ----------------------------------------------------------------------


async def test_the_public_lookup_needs_the_verifier_and_is_limited() -> None:
    uow = world()
    receipt, _ = await submit(uow)
    code, secret = receipt.dossier.code, receipt.lookup_secret
    assert secret is not None
    limits = lookup.LookupLimits(per_code=2, per_address=10, window_seconds=60)
    found = await lookup.lookup(uow, code, secret, "203.0.113.9", limits)
    assert found.id == receipt.dossier.id
    for _ in range(2):
        with pytest.raises(NotFound):
            await lookup.lookup(uow, code, "0000", "203.0.113.9", limits)
    with pytest.raises(RateLimited):
        await lookup.lookup(uow, code, secret, "203.0.113.9", limits)
    assert intake.receipt_qr(receipt.dossier, ISSUER).dossier_code == code
