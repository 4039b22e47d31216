"""Issue 17: what the citizen does after filing reaches the agency as the filing does — a
supplement answering the agency's request (status 5) and a withdrawal — pushed (signed, retried,
each once) or pulled from the feed (in a stated order, acknowledged), in the portal's JSON or
the provinces' ``DongBoHoSoMC`` (``DanhSachHoSoBoSung``). And a delivery connects to the address
that was checked, whatever the name resolves to next (DNS rebinding)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import text

from contracts.events.dossier import DossierSubmitted, DossierSupplemented, WithdrawalRequested
from services.kit import webhooks
from services.sync.domain.outgoing import render
from services.sync.domain.records import DOSSIER_SYNC, parse_compat_record
from services.sync.service import outbound
from services.sync.settings import SyncSettings
from tests.support.servers import serve
from tests.support.sync import H22, Sync, delivery_settings, submitted

pytestmark = pytest.mark.integration
SECRET = "agency-h22-shared-secret-0123456789abcdef"
CODE = f"{H22}-251203-0001"
FILE = {"id": "5b0c6f0e-2a43-4a39-9d1b-1f0a2b3c4d5e", "component_code": "TP1", "filename": "so-ho-khau.pdf",
        "content_type": "application/pdf", "size": 1024, "sha256": "a" * 64}  # fmt: skip


def supplemented(filed: dict[str, Any]) -> dict[str, Any]:
    return {"dossier_id": filed["dossier_id"], "code": filed["code"], "agency_code": filed["agency_code"],
            "supplement_id": 7, "requested_at": "2025-12-04T02:00:00+00:00", "note": "Bổ sung sổ hộ khẩu",
            "attachments": [FILE], "supplemented_at": "2025-12-05T03:00:00+00:00"}  # fmt: skip


def withdrawn(filed: dict[str, Any]) -> dict[str, Any]:
    return {"dossier_id": filed["dossier_id"], "code": filed["code"], "agency_code": filed["agency_code"],
            "reason": "Không còn nhu cầu", "requested_at": "2025-12-06T03:00:00+00:00"}  # fmt: skip


class Agency:
    """An agency system on loopback: checks every signature, keeps what it took."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.taken: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.post("/in")
        async def take(request: Request) -> Response:
            body = await request.body()
            webhooks.verify(request.headers.get("x-signature"), body, [SECRET],
                            now=int(datetime.now(UTC).timestamp()))  # fmt: skip
            status = self.answers.pop(0) if self.answers else 200
            if status == 200:
                self.taken.append({"kind": request.headers["x-delivery-kind"], "id": request.headers["x-delivery-id"],
                                   "host": request.headers["host"], "body": json.loads(body)})  # fmt: skip
            return Response(status_code=status)


@pytest.fixture
def agency() -> Iterator[tuple[Agency, str]]:
    system = Agency()
    with serve(system.app) as url:
        yield system, url


async def everything_happens(s: Sync, settings: SyncSettings, mode: str, url: str | None, fmt: str) -> dict:
    db = s.db()
    try:
        async with db.transaction() as uow:
            await outbound.register_endpoint(uow, settings, H22, mode, url, [SECRET], fmt=fmt)
    finally:
        await db.dispose()
    filed = await s.filed(CODE)
    for _ in range(2):  # every event delivered twice: still one delivery each
        await s.consume(DossierSupplemented.TYPE, supplemented(filed))
        await s.consume(WithdrawalRequested.TYPE, withdrawn(filed))
    await s.consume(DossierSubmitted.TYPE, filed)
    return filed


async def rounds(s: Sync, settings: SyncSettings, *minutes: float) -> list[dict[str, int]]:
    db = s.db()
    try:
        return [await outbound.deliver_due(db, settings, now=datetime.now(UTC) + timedelta(minutes=m)) for m in minutes]
    finally:
        await db.dispose()


async def test_a_supplement_and_a_withdrawal_are_pushed_signed_retried_and_once(
    sync_api: Sync, agency: tuple[Agency, str]
) -> None:
    system, url = agency
    settings = delivery_settings(sync_api)
    filed = await everything_happens(sync_api, settings, "push", f"{url}/in", "portal")
    system.answers = [503, 503, 503]  # down for the first round
    assert await rounds(sync_api, settings, 0, 0, 1, 600) == [{"retrying": 3}, {}, {"delivered": 3}, {}]
    by_kind = {t["kind"]: t["body"] for t in system.taken}
    assert sorted(by_kind) == ["filing", "supplement", "withdrawal"] and len(system.taken) == 3
    assert by_kind["filing"] == filed
    assert by_kind["supplement"]["attachments"] == [FILE] and by_kind["supplement"]["supplement_id"] == 7
    assert by_kind["withdrawal"]["reason"] == "Không còn nhu cầu"


async def test_the_provinces_format_carries_the_supplement_in_danhsachhosobosung(
    sync_api: Sync, agency: tuple[Agency, str]
) -> None:
    system, url = agency
    settings = delivery_settings(sync_api)
    await everything_happens(sync_api, settings, "push", f"{url}/in", "compat")
    assert await rounds(sync_api, settings, 0) == [{"delivered": 3}]
    by_kind = {t["kind"]: t["body"] for t in system.taken}
    assert {k: (b["service"], b["isUpdating"]) for k, b in by_kind.items()} == {
        "filing": (DOSSIER_SYNC, False), "supplement": (DOSSIER_SYNC, True), "withdrawal": (DOSSIER_SYNC, True)
    }  # fmt: skip
    [filing], [supplement], [withdrawal] = (by_kind[k]["data"] for k in ("filing", "supplement", "withdrawal"))
    assert (filing["MaHoSo"], filing["TrangThaiHoSo"], filing["LoaiDoiTuong"]) == (CODE, "1", 1)
    [answer] = supplement["DanhSachHoSoBoSung"]
    assert answer["TaiLieuNop"] == [{"TepDinhKemId": FILE["id"], "TenTepDinhKem": "so-ho-khau.pdf",
                                     "IsDeleted": False, "MaThanhPhanHoSo": "TP1"}]  # fmt: skip
    assert (answer["NgayYeuCauBoSung"], answer["NgayBoSung"]) == ("20251204090000", "20251205100000")
    assert (supplement["TrangThaiHoSo"], withdrawal["TrangThaiHoSo"]) == ("4", "7")
    assert withdrawal["GhiChu"] == "Không còn nhu cầu" and withdrawal["NgayYeuCauRut"] == "20251206100000"
    # What the portal sends in the provinces' format, the portal itself reads back.
    read = parse_compat_record(filing, service=DOSSIER_SYNC, prefix="data.0", agencies=frozenset({H22}),
                               mapping=lambda agency, value: None)  # fmt: skip
    assert read.code == CODE and read.status == 1
    assert read.dossier is not None and read.dossier.applicant_identifier == "001099012345"


async def test_the_feed_lists_every_kind_in_delivery_order_and_takes_acknowledgements(sync_api: Sync) -> None:
    settings = delivery_settings(sync_api)
    filed = await everything_happens(sync_api, settings, "pull", None, "compat")
    later = await sync_api.filed(f"{H22}-251203-0002")
    async with sync_api.client() as api:
        page = (await api.get("/feed", headers=sync_api.province(H22))).json()
        kinds = [(i["dossier_code"], i["kind"]) for i in page["items"]]
        # The order sync recorded them in, ids rising (for one dossier, the order things happened).
        assert kinds == [(CODE, "filing"), (CODE, "supplement"), (CODE, "withdrawal"), (later["code"], "filing")]
        ids = [i["delivery_id"] for i in page["items"]]
        assert ids == sorted(ids)
        supplement = page["items"][1]
        assert supplement["content"]["data"][0]["DanhSachHoSoBoSung"][0]["MaYeuCauBoSung"] == "7"
        assert "dossier" not in supplement and page["items"][0]["dossier"] == render("filing", filed, "compat")
        acked = await api.post("/feed/ack", headers=sync_api.province(H22), json={"delivery_ids": ids[:2]})
        assert acked.json() == {"acknowledged": ids[:2]}
        left = (await api.get("/feed", headers=sync_api.province(H22))).json()
    assert [(i["dossier_code"], i["kind"]) for i in left["items"]] == [(CODE, "withdrawal"), (later["code"], "filing")]


async def test_a_delivery_connects_to_the_address_it_checked_not_to_a_second_answer(
    sync_api: Sync, agency: tuple[Agency, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    system, url = agency
    port = int(url.rsplit(":", 1)[1])
    answers = iter(["127.0.0.1"] + ["127.0.0.2"] * 10)  # checked, then rebound elsewhere
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "agency.test":
            asked.append(host)
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings = delivery_settings(sync_api)
    db = sync_api.db()
    try:
        async with db.transaction() as uow:
            await outbound.register_endpoint(uow, settings, H22, "push", f"http://agency.test:{port}/in", [SECRET])
    finally:
        await db.dispose()
    await sync_api.filed(CODE)
    assert await rounds(sync_api, settings, 0) == [{"delivered": 1}]
    assert asked == ["agency.test"]  # resolved once, for the check
    assert [t["host"] for t in system.taken] == [f"agency.test:{port}"]


def test_a_pinned_request_keeps_the_host_name_for_tls_and_host() -> None:
    target, host, extensions = outbound.pinned("https://motcua.example.vn/api/hoso", "203.113.131.1")
    assert str(target) == "https://203.113.131.1/api/hoso"
    assert host == {"Host": "motcua.example.vn"} and extensions == {"sni_hostname": "motcua.example.vn"}
    target, host, _ = outbound.pinned("https://motcua.example.vn:8443/in", "2001:db8::1")
    assert str(target) == "https://[2001:db8::1]:8443/in" and host == {"Host": "motcua.example.vn:8443"}


async def test_deliveries_are_added_one_transaction_at_a_time_so_the_feed_never_skips_one(sync_api: Sync) -> None:
    """A feed reader past id N must never find a smaller id committed later: a second delivery
    waits for the first one's transaction to end before it takes its id."""
    import asyncio

    from services.sync.adapters import repository

    first_db, second_db, probe = sync_api.db(), sync_api.db(), sync_api.db()
    try:
        async with first_db.transaction() as first:
            await outbound.record_submission(first, submitted(f"{H22}-251203-0001"))
            second = asyncio.create_task(_add_in_own_transaction(second_db, f"{H22}-251203-0002"))

            async def waiting() -> bool:
                async with probe.transaction() as uow:
                    rows = await uow.connection.execute(
                        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                             "AND objid = :low"), {"low": repository.DELIVERY_ORDER_LOCK & 0xFFFFFFFF})  # fmt: skip
                    return bool(rows.scalar())

            for _ in range(600):  # the second is seen waiting (no time is asserted)
                if await waiting() or second.done():
                    break
                await asyncio.sleep(0.05)
            assert not second.done() and await waiting()
        await second
        async with probe.transaction() as uow:
            rows = (await uow.connection.execute(text("SELECT dossier_code FROM deliveries ORDER BY id"))).all()
        assert [r[0] for r in rows] == [f"{H22}-251203-0001", f"{H22}-251203-0002"]
    finally:
        for db in (first_db, second_db, probe):
            await db.dispose()


async def _add_in_own_transaction(db: Any, code: str) -> None:
    async with db.transaction() as uow:
        await outbound.record_submission(uow, submitted(code))
