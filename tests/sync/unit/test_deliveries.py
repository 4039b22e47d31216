"""Outbound use cases on the fake unit of work: what is delivered (a filing, a supplement, a
withdrawal, each once), the registry's refusals, an attempt's outcome (delivered, retried with
backoff, dead, redelivered), and the feed (in delivery-id order, each agency's own)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.kit.errors import NotFound, ValidationFailed
from services.sync.domain.batches import AgencyClient
from services.sync.domain.delivery import AttemptResult
from services.sync.service import outbound
from services.sync.settings import SyncSettings
from tests.sync.fakes import FakeSyncUnitOfWork

H22, H79 = "000.00.01.H22", "000.00.02.H79"
SECRET = "agency-h22-shared-secret-0123456789abcdef"
FILE = {"id": "5b0c6f0e-2a43-4a39-9d1b-1f0a2b3c4d5e", "component_code": "TP1", "filename": "so-ho-khau.pdf",
        "content_type": "application/pdf", "size": 1024, "sha256": "a" * 64}  # fmt: skip
NOW = datetime(2025, 12, 5, 3, 0, tzinfo=UTC)
OK = AttemptResult(200, None, 12)
DOWN = AttemptResult(503, "HTTP 503", 8)


def settings(**overrides: Any) -> SyncSettings:
    values = {"environment": "test", "log_json": False, "delivery_max_attempts": 3, "delivery_backoff_base_seconds": 30}
    return SyncSettings(**{**values, **overrides})


def submitted(code: str, agency: str = H22) -> dict[str, Any]:
    return {
        "dossier_id": str(uuid.uuid4()), "code": code, "service_id": str(uuid.uuid4()), "service_version": 1,
        "procedure_code": "1.002804", "procedure_name": "Cấp đổi giấy phép lái xe", "agency_code": agency,
        "routing_target": f"motcua:{agency}",
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
        "form": {"ho_ten": "Nguyễn Văn An"}, "attachments": [], "fees": [],
        "received_at": "2025-12-03T02:00:00+00:00", "appointment_date": "2025-12-10",
    }  # fmt: skip


def supplemented(filed: dict[str, Any], supplement_id: int = 7) -> dict[str, Any]:
    return {"dossier_id": filed["dossier_id"], "code": filed["code"], "agency_code": filed["agency_code"],
            "supplement_id": supplement_id, "requested_at": "2025-12-04T02:00:00+00:00", "note": "Bổ sung sổ hộ khẩu",
            "attachments": [FILE], "supplemented_at": "2025-12-05T03:00:00+00:00"}  # fmt: skip


async def registered(uow: FakeSyncUnitOfWork, mode: str, fmt: str = "portal", agency: str = H22) -> None:
    async with uow:
        url = "https://motcua.example.vn/in" if mode == "push" else None
        await outbound.register_endpoint(uow, settings(), agency, mode, url, [SECRET], fmt=fmt)  # type: ignore[arg-type]
        await uow.commit()


async def test_a_supplement_is_delivered_once_per_request_after_its_filing() -> None:
    uow = FakeSyncUnitOfWork()
    await registered(uow, "pull", fmt="compat")
    filed = submitted(f"{H22}-251203-0001")
    async with uow:
        await outbound.record_submission(uow, filed)
        for _ in range(2):  # every event delivered twice: still one delivery each
            await outbound.record_supplement(uow, supplemented(filed))
            await outbound.record_submission(uow, filed)
        await outbound.record_supplement(uow, supplemented(filed, supplement_id=8))  # a second request
        await uow.commit()
        items = await outbound.pull(uow, AgencyClient("h22", frozenset({H22})), 0, 50)
    assert [(i.kind, i.delivery_id) for i in items] == [("filing", 1), ("supplement", 2), ("supplement", 3)]
    [answer] = items[1].content["data"][0]["DanhSachHoSoBoSung"]
    assert (answer["MaYeuCauBoSung"], answer["NgayBoSung"]) == ("7", "20251205100000")  # Vietnam time
    assert answer["TaiLieuNop"] == [{"TepDinhKemId": FILE["id"], "TenTepDinhKem": "so-ho-khau.pdf",
                                     "IsDeleted": False, "MaThanhPhanHoSo": "TP1"}]  # fmt: skip
    assert items[1].content["isUpdating"] is True and items[0].content["isUpdating"] is False


async def test_a_supplement_in_the_portal_format_is_the_event_as_published() -> None:
    uow = FakeSyncUnitOfWork()
    await registered(uow, "pull")
    filed = submitted(f"{H22}-251203-0001")
    async with uow:
        await outbound.record_supplement(uow, supplemented(filed))
        [item] = await outbound.pull(uow, AgencyClient("h22", frozenset({H22})), 0, 50)
    assert item.kind == "supplement" and item.content == supplemented(filed)


async def test_the_feed_lists_only_the_client_s_agencies_after_the_cursor_and_takes_their_acknowledgements() -> None:
    uow = FakeSyncUnitOfWork()
    await registered(uow, "pull")
    await registered(uow, "pull", agency=H79)
    async with uow:
        for n, agency in enumerate([H22, H79, H22, H22], 1):
            await outbound.record_submission(uow, submitted(f"{agency}-251203-000{n}", agency))
        await uow.commit()
    h22, h79 = AgencyClient("h22", frozenset({H22})), AgencyClient("h79", frozenset({H79}))
    async with uow:
        first = await outbound.pull(uow, h22, 0, 2)
        rest = await outbound.pull(uow, h22, first[-1].delivery_id, 50)
        assert [i.delivery_id for i in first] == [1, 3] and [i.delivery_id for i in rest] == [4]
        assert await outbound.acknowledge(uow, h79, [1, 3]) == []  # not theirs
        assert await outbound.acknowledge(uow, h22, [1, 3, 2]) == [1, 3]
        await uow.commit()
        assert [i.delivery_id for i in await outbound.pull(uow, h22, 0, 50)] == [4]
        assert [i.delivery_id for i in await outbound.pull(uow, h79, 0, 50)] == [2]


async def test_an_attempt_retries_with_backoff_then_dies_until_redelivered() -> None:
    uow = FakeSyncUnitOfWork()
    await registered(uow, "push")
    async with uow:
        await outbound.record_submission(uow, submitted(f"{H22}-251203-0001"))
        await uow.commit()
    outcomes = []
    for n, result in enumerate([DOWN, DOWN, DOWN, OK]):
        async with uow:
            outcomes.append(await outbound.record_attempt(uow, settings(), 1, result, NOW + timedelta(minutes=n)))
            await uow.commit()
    assert outcomes == ["retrying", "retrying", "dead", "dead"]  # after the last attempt, an answer changes nothing
    async with uow:
        history = await outbound.delivery_detail(uow, 1)
        [failing] = await outbound.failing(uow)
    assert (history.delivery.state, history.delivery.attempts, history.delivery.last_error) == ("dead", 3, "HTTP 503")
    assert [a.status_code for a in history.attempts] == [503, 503, 503, 200]
    assert (failing.agency_code, failing.dead, failing.retrying) == (H22, 1, 0)
    async with uow:
        assert await outbound.redeliver(uow, agency_code=H79) == 0
        assert await outbound.redeliver(uow, agency_code=H22) == 1
        await uow.commit()
        assert await outbound.record_attempt(uow, settings(), 1, OK, NOW) == "delivered"
        await uow.commit()
    delivered = uow.store.deliveries[1]
    assert (delivered.state, delivered.attempts, delivered.delivered_at, delivered.last_error) == (
        "delivered", 1, NOW, None)  # fmt: skip


async def test_a_failed_attempt_waits_its_backoff() -> None:
    uow = FakeSyncUnitOfWork()
    await registered(uow, "push")
    async with uow:
        await outbound.record_submission(uow, submitted(f"{H22}-251203-0001"))
        await outbound.record_attempt(uow, settings(), 1, DOWN, NOW)
        await outbound.record_attempt(uow, settings(), 1, DOWN, NOW)
        await uow.commit()
    assert uow.store.deliveries[1].next_attempt_at == NOW + timedelta(seconds=60)  # 30 s, then 60 s
    async with uow:
        assert await outbound.record_attempt(uow, settings(), 99, OK, NOW) == "gone"
        with pytest.raises(NotFound):
            await outbound.delivery_detail(uow, 99)


@pytest.mark.parametrize(
    ("mode", "url", "secrets", "field"),
    [("push", None, [SECRET], "body.url"), ("push", "https://motcua.example.vn/in", [], "body.secrets"),
     ("push", "https://10.0.0.5/in", [SECRET], "body.url"), ("push", "http://motcua.example.vn/in", [SECRET],
                                                               "body.url")],
)  # fmt: skip
async def test_the_registry_refuses_an_endpoint_that_cannot_be_called_safely(
    mode: str, url: str | None, secrets: list[str], field: str
) -> None:
    uow = FakeSyncUnitOfWork()
    async with uow:
        with pytest.raises(ValidationFailed) as refused:
            await outbound.register_endpoint(uow, settings(), H22, mode, url, secrets)  # type: ignore[arg-type]
    assert [e["field"] for e in refused.value.extra["errors"]] == [field]
    assert uow.store.endpoints == {}


async def test_a_pull_endpoint_keeps_no_url_and_its_secrets_sealed() -> None:
    uow = FakeSyncUnitOfWork()
    async with uow:
        endpoint = await outbound.register_endpoint(uow, settings(), H22, "pull", "https://ignored.example/in",
                                                    [SECRET])  # fmt: skip
        await uow.commit()
    assert endpoint.url is None and uow.store.endpoints[H22] == endpoint
    assert endpoint.secrets is not None and SECRET.encode() not in endpoint.secrets
    assert outbound._secrets(settings(), endpoint.secrets) == [SECRET]
