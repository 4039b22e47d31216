"""The push use case on the fake unit of work: each record answered as the dossier service will
judge it (another agency's dossier, duplicates, stale records, times beyond the clock skew), the
answers kept, the accepted records passed on in DossierStatusesReported events by agency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.events.sync import DossierStatusesReported
from services.kit.errors import NotFound, ValidationFailed
from services.sync.domain.batches import AgencyClient, Batch, Format
from services.sync.domain.dossiers import KnownDossier, applicant_digest
from services.sync.service import inbound
from tests.sync.fakes import FakeSyncUnitOfWork, Store

H22, H79 = "000.00.01.H22", "000.00.02.H79"
CODE = f"{H22}-251203-0001"
THEIRS = f"{H79}-251203-0001"
NOW = datetime(2025, 12, 3, 12, 0, tzinfo=UTC)
FILED = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
CLIENT = AgencyClient("province-h22", frozenset({H22}))


def known(code: str = CODE, agency: str = H22, status: int = 1, at: datetime = FILED) -> KnownDossier:
    return KnownDossier(code, agency, status, at, applicant_digest("001099012345"))


def store(*dossiers: KnownDossier) -> Store:
    return Store(dossiers={d.code: d for d in dossiers})


def portal(status: int, at: datetime, code: str = CODE, agency: str = H22, **extra: Any) -> dict[str, Any]:
    return {"dossier_code": code, "agency_code": agency, "status": status, "occurred_at": at.isoformat(), **extra}


def progress(code: str, status: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"MaHoSo": code, "TrangThai": status, "ThoiDiemXuLy": at, **extra}


async def push(
    uow: FakeSyncUnitOfWork, records: list[Any], *, client: AgencyClient = CLIENT, fmt: Format = "portal",
    skew: int = 300,
) -> Batch:  # fmt: skip
    async with uow:
        batch = await inbound.push(uow, client, records, fmt=fmt, prefix="records" if fmt == "portal" else "data",
                                   max_records=1000, clock_skew_seconds=skew, now=NOW)  # fmt: skip
        await uow.commit()
    return batch


def reported(uow: FakeSyncUnitOfWork) -> list[tuple[str | None, str, int]]:
    """(event subject, dossier code, status) of every record passed on, checked by the contract."""
    out = []
    for event in uow.emitted:
        assert event.type == DossierStatusesReported.TYPE
        data = DossierStatusesReported.model_validate(event.data)
        assert data.agency_code == event.subject  # keyed by the agency: one partition, in order
        out += [(event.subject, r.code, r.status) for r in data.records]
    return out


def outcomes(batch: Batch) -> list[str]:
    return [r.outcome for r in batch.results]


async def test_a_record_for_another_agency_s_dossier_is_rejected_and_moves_nothing() -> None:
    uow = FakeSyncUnitOfWork(store(known(THEIRS, H79)))
    batch = await push(uow, [portal(2, NOW - timedelta(hours=1), code=THEIRS),
                             portal(2, NOW - timedelta(hours=1), code=THEIRS, agency=H79)])  # fmt: skip
    assert outcomes(batch) == ["rejected", "rejected"]
    assert [(e.field, e.reason) for e in batch.results[0].errors] == [
        ("records.0.agency_code", f"the dossier {THEIRS} belongs to agency {H79}")
    ]
    assert [e.field for e in batch.results[1].errors] == ["records.1.agency_code"]  # H79 is not this client's
    assert reported(uow) == [] and uow.store.accepted == {}
    assert uow.store.dossiers[THEIRS] == known(THEIRS, H79)  # unmoved
    assert batch.summary.rejected == 2 and uow.store.batches[batch.id].summary.rejected == 2


async def test_the_recorded_agency_decides_over_the_code_s_prefix() -> None:
    numbered_like_ours = f"{H22}-251203-0009"
    uow = FakeSyncUnitOfWork(store(known(numbered_like_ours, H79)))
    batch = await push(uow, [progress(numbered_like_ours, "2", "20251203100000")], fmt="CapNhatTienDoHoSoMC")
    assert outcomes(batch) == ["rejected"] and batch.results[0].errors[0].field == "data.0.MaHoSo"


async def test_duplicates_within_a_push_and_across_pushes_are_answered_duplicate_and_passed_on_once() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    first = portal(2, NOW - timedelta(hours=2), record_id="r-1")
    batch = await push(uow, [first, first, portal(4, NOW - timedelta(hours=1), record_id="r-2")])
    assert outcomes(batch) == ["accepted", "duplicate", "accepted"]
    again = await push(uow, [first])
    assert outcomes(again) == ["duplicate"]
    assert reported(uow) == [(H22, CODE, 2), (H22, CODE, 4)]
    assert set(uow.store.accepted) == {(H22, "r-1"), (H22, "r-2")}
    assert uow.records.asked == [3, 1]  # one look-up a push, however many records


async def test_a_record_older_than_the_latest_applied_update_is_stale() -> None:
    uow = FakeSyncUnitOfWork(store(known(status=2, at=NOW - timedelta(hours=1))))
    batch = await push(uow, [portal(4, NOW - timedelta(hours=2)), portal(4, NOW - timedelta(minutes=30))])
    assert outcomes(batch) == ["stale", "accepted"]
    assert reported(uow) == [(H22, CODE, 4)]
    saved = uow.store.dossiers[CODE]
    assert (saved.status, saved.last_update_at) == (4, NOW - timedelta(minutes=30))


async def test_records_of_one_dossier_are_judged_in_push_order() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    batch = await push(uow, [portal(2, NOW - timedelta(hours=1)), portal(2, NOW - timedelta(hours=2), note="late")])
    assert outcomes(batch) == ["accepted", "stale"]


async def test_a_time_beyond_the_clock_skew_is_rejected_and_one_within_it_accepted() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    batch = await push(uow, [portal(2, NOW + timedelta(seconds=301)), portal(2, NOW + timedelta(seconds=299))])
    assert outcomes(batch) == ["rejected", "accepted"]
    assert [(e.field, e.reason) for e in batch.results[0].errors] == [
        ("records.0.occurred_at", "in the future: later than now plus the clock-skew tolerance")
    ]
    tolerant = FakeSyncUnitOfWork(store(known()))
    assert outcomes(await push(tolerant, [portal(2, NOW + timedelta(minutes=10))], skew=900)) == ["accepted"]


async def test_a_change_the_status_table_refuses_is_rejected_on_the_status() -> None:
    uow = FakeSyncUnitOfWork(store(known(status=1)))
    batch = await push(uow, [portal(10, NOW - timedelta(hours=1))])
    assert outcomes(batch) == ["rejected"]
    assert [(e.field, e.reason) for e in batch.results[0].errors] == [
        ("records.0.status", "a dossier in status 1 cannot move to status 10")
    ]


async def test_an_unknown_dossier_is_mirrored_only_when_the_record_describes_it() -> None:
    uow = FakeSyncUnitOfWork()
    described = portal(2, NOW - timedelta(hours=1), dossier={
        "procedure_code": "1.002804", "applicant_kind": "citizen", "applicant_identifier": "036090001122"})  # fmt: skip
    batch = await push(uow, [portal(2, NOW - timedelta(hours=1), code=f"{H22}-251203-0002"), described])
    assert outcomes(batch) == ["rejected", "accepted"]
    mirror = uow.store.dossiers[CODE]
    assert (mirror.agency_code, mirror.status, mirror.applicant_digest) == (H22, 2, applicant_digest("036090001122"))
    [event] = uow.emitted
    record = DossierStatusesReported.model_validate(event.data).records[0]
    assert record.dossier is not None and record.dossier.applicant_identifier == "036090001122"


async def test_another_applicant_under_a_known_code_is_rejected() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    other = portal(2, NOW - timedelta(hours=1), dossier={
        "procedure_code": "1.002804", "applicant_kind": "citizen", "applicant_identifier": "079088001234"})  # fmt: skip
    batch = await push(uow, [other])
    assert outcomes(batch) == ["rejected"]
    assert batch.results[0].errors[0].field == "records.0.dossier.applicant_identifier"


async def test_local_statuses_go_through_the_agency_s_mapping() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    async with uow:
        assert await inbound.set_mapping(uow, H22, {"DANG_XU_LY": 4, "DA_TIEP_NHAN": 2}) == {
            "DA_TIEP_NHAN": 2, "DANG_XU_LY": 4}  # fmt: skip
        await uow.commit()
    batch = await push(uow, [progress(CODE, "DA_TIEP_NHAN", "20251203100000"),
                             progress(CODE, "LAM_MOI", "20251203110000")], fmt="CapNhatTienDoHoSoMC")  # fmt: skip
    assert outcomes(batch) == ["accepted", "rejected"]
    assert "LAM_MOI" in batch.results[1].errors[0].reason
    assert reported(uow) == [(H22, CODE, 2)]


async def test_accepted_records_travel_by_agency_in_their_order() -> None:
    both = AgencyClient("province-two", frozenset({H22, H79}))
    uow = FakeSyncUnitOfWork(store(known(), known(THEIRS, H79)))
    at = NOW - timedelta(hours=1)
    batch = await push(uow, [portal(2, at), portal(2, at, code=THEIRS, agency=H79), portal(4, at + timedelta(1e-3))],
                       client=both)  # fmt: skip
    assert outcomes(batch) == ["accepted"] * 3
    assert reported(uow) == [(H22, CODE, 2), (H22, CODE, 4), (H79, THEIRS, 2)]
    assert len(uow.emitted) == 2
    assert uow.dossiers.locked == [[CODE, THEIRS]]  # every dossier of the push locked at once, in code order


async def test_nothing_is_kept_or_passed_on_when_the_push_fails_before_its_commit() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    async with uow:
        await inbound.push(uow, CLIENT, [portal(2, NOW - timedelta(hours=1))], fmt="portal", prefix="records",
                           max_records=1000, now=NOW)  # fmt: skip
    assert uow.emitted == [] and uow.store.batches == {} and uow.store.accepted == {}
    assert uow.store.dossiers[CODE] == known()


async def test_a_batch_is_read_back_by_the_client_that_pushed_it_only() -> None:
    uow = FakeSyncUnitOfWork(store(known()))
    batch = await push(uow, [portal(2, NOW - timedelta(hours=1)), {"dossier_code": CODE}])
    async with uow:
        read = await inbound.batch(uow, CLIENT, batch.id)
        with pytest.raises(NotFound):
            await inbound.batch(uow, AgencyClient("another", frozenset({H22})), batch.id)
        with pytest.raises(NotFound):
            await inbound.batch(uow, CLIENT, "00000000-0000-0000-0000-000000000000")
    assert read.results == batch.results and read.format == "portal" and read.received_at is not None
    assert (read.summary.accepted, read.summary.rejected, read.records) == (1, 1, 2)


async def test_a_client_with_no_agency_or_too_many_records_is_refused_whole() -> None:
    uow = FakeSyncUnitOfWork()
    with pytest.raises(NotFound):
        await push(uow, [portal(2, NOW)], client=AgencyClient("nobody", frozenset()))
    async with uow:
        with pytest.raises(ValidationFailed):
            await inbound.push(uow, CLIENT, [portal(2, NOW)] * 3, fmt="portal", prefix="records", max_records=2)
    assert uow.store.batches == {} and uow.emitted == []
