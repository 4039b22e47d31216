"""The officials' daily digest end to end on real components: the deadlines from the dossier and
feedback services' events on the service's own PostgreSQL, the officials asked of the real
identity service over HTTP as its confidential client, the worker's job at a moved clock.

Once per official per agency per day whatever the reruns; nothing before the hour, nothing for
an agency with nothing near; the counts and codes right; e-mail (and push), never SMS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import FeedbackClassified, FeedbackReceived
from services.identity.adapters.accounts import accounts
from services.identity.service.seed import SEED_OFFICIAL_ID
from services.kit.calendar import VIETNAM_TZ
from services.notification.adapters import contacts
from services.notification.service import jobs
from tests.notification.test_dispatch import identity
from tests.support.identity import identity_database
from tests.support.notification import NotificationApi, dossier_submitted, notification_settings, status_changed

pytestmark = pytest.mark.integration

H22, H23, H24 = "000.00.01.H22", "000.00.01.H23", "000.00.01.H24"
TODAY = date(2026, 1, 12)  # a Monday


async def _add_officials(db_url: str) -> None:
    db = identity_database(db_url)
    try:
        async with db.transaction() as uow:
            await uow.connection.execute(insert(accounts), [
                {"id": i, "kind": "official", "status": s, "name": "Cán bộ", "password_hash": "", "agencies": a}
                for i, s, a in (("official-b", "active", [H22, H23]), ("official-c", "active", [H23]),
                                ("official-locked", "locked", [H22]))
            ])  # fmt: skip
    finally:
        await db.dispose()


async def _templates(api: NotificationApi) -> None:
    db = api.db()
    try:
        await jobs.templates_at_start(db, api.settings)
    finally:
        await db.dispose()


@pytest.fixture
def digest(notification_db_url, identity_db_url, infra, tmp_path: Path) -> Iterator[NotificationApi]:  # type: ignore[no-untyped-def]
    """The notification service's database and settings, with identity serving its officials:
    the seeded one of H22, another of H22 and H23, one of H23, and a locked one of H22."""
    with identity(identity_db_url, infra.bootstrap) as (identity_url, identity_config):
        asyncio.run(_add_officials(identity_db_url))
        clock = tmp_path / "clock"
        settings = notification_settings(
            notification_db_url, infra.bootstrap, identity_url=identity_url, dev_clock_offset_file=clock,
            contacts_client_secret=identity_config.notification_client_secret, portal_url="https://dichvucong.test",
        )  # fmt: skip
        api = NotificationApi("", notification_db_url, {}, clock, settings)
        asyncio.run(_templates(api))  # as the API saves them when it starts
        yield api


def at_vietnam(api: NotificationApi, day: date, moment: time) -> None:
    """Move the service's clock to ``moment`` of ``day`` in Vietnam."""
    target = datetime.combine(day, moment, VIETNAM_TZ)
    api.clock_file.write_text(str((target - datetime.now(UTC)).total_seconds()))


async def run_digest(api: NotificationApi) -> None:
    db = api.db()
    try:
        await jobs.digest(db, api.settings)
    finally:
        await db.dispose()


async def digests(api: NotificationApi) -> list[Any]:
    return await api.rows(
        "SELECT n.account_id, n.event_id, i.title, i.body, i.link FROM notices n "
        "JOIN inbox_items i ON i.notice_id = n.id WHERE n.kind = 'official-digest' ORDER BY n.account_id, n.event_id"
    )


async def dossier(api: NotificationApi, code: str, due: date, agency: str = H22, status: int | None = None) -> None:
    data = {**dossier_submitted(None, code=code, appointment=due), "agency_code": agency}
    events = [CloudEvent(source="dossier", type=DossierSubmitted.TYPE, data=data)]
    if status is not None:
        change = {**status_changed(data["dossier_id"], 1, status), "code": code, "agency_code": agency}
        events.append(CloudEvent(source="dossier", type=StatusChanged.TYPE, data=change))
    await api.consume_run(events)


async def feedback(api: NotificationApi, code: str, classify_due: date, answer_due: date, agency: str = H22,
                   classified: bool = False) -> None:  # fmt: skip
    fid = str(uuid.uuid4())
    events = [CloudEvent(source="feedback", type=FeedbackReceived.TYPE, data={
        "feedback_id": fid, "code": code, "sender": "", "channel": "mail", "topic": "general", "agency_code": agency,
        "received_at": "2026-01-02T02:00:00Z", "classify_due": classify_due.isoformat(),
        "answer_due": answer_due.isoformat()})]  # fmt: skip
    if classified:
        events.append(CloudEvent(source="feedback", type=FeedbackClassified.TYPE, data={
            "feedback_id": fid, "code": code, "agency_code": agency, "category": "within_remit",
            "classified_at": "2026-01-03T02:00:00Z"}))  # fmt: skip
    await api.consume_run(events)


async def a_busy_h22_and_a_calm_h23(api: NotificationApi) -> None:
    # H22: two dossiers past (one long past), one due today, one the day after tomorrow (the edge),
    # one beyond the two days, one past but processed (its clock ended); feedback: one past its
    # classify date, one classified whose answer is due tomorrow (its classify date long past).
    await dossier(api, "H22-A", date(2026, 1, 9))
    await dossier(api, "H22-B", date(2025, 12, 1))
    await dossier(api, "H22-C", TODAY)
    await dossier(api, "H22-D", date(2026, 1, 14))
    await dossier(api, "H22-E", date(2026, 1, 15))
    await dossier(api, "H22-F", date(2026, 1, 5), status=9)
    await feedback(api, "PAKN-1", date(2026, 1, 9), date(2026, 1, 30))
    await feedback(api, "PAKN-2", date(2026, 1, 5), date(2026, 1, 13), classified=True)
    # H23: only what is far off or closed.
    await dossier(api, "H23-A", date(2026, 1, 20), agency=H23)
    await dossier(api, "H23-B", date(2026, 1, 2), agency=H23, status=3)


async def test_each_official_gets_their_agencys_digest_once_with_the_right_counts(digest: NotificationApi) -> None:
    api = digest
    await a_busy_h22_and_a_calm_h23(api)
    at_vietnam(api, TODAY, time(7, 45))
    await run_digest(api)
    made = await digests(api)
    event = f"digest:{H22}:{TODAY.isoformat()}"
    assert [(r.account_id, r.event_id) for r in made] == [(SEED_OFFICIAL_ID, event), ("official-b", event)]
    body = made[0].body
    assert made[0].title == f"{H22}: hồ sơ, phản ánh quá hạn và sắp đến hạn"
    assert f"Cơ quan {H22}: 2 hồ sơ đã quá hạn, 2 hồ sơ đến hạn trong 2 ngày tới; 1 phản ánh, kiến nghị đã quá hạn, " \
           "1 đến hạn trong 2 ngày tới." in body  # fmt: skip
    assert body.endswith("Cần xử lý trước: H22-B, H22-A, PAKN-1, H22-C, PAKN-2, H22-D.")  # most urgent first
    assert made[0].link == "https://dichvucong.test"
    # By e-mail only: the officials have no device, and a digest never goes by SMS.
    channels = await api.rows("SELECT m.channel, count(*) AS n FROM messages m JOIN notices n ON n.id = m.notice_id "
                              "WHERE n.kind = 'official-digest' GROUP BY m.channel")  # fmt: skip
    assert [(r.channel, r.n) for r in channels] == [("email", 2)]

    # Reruns, a restart that forgot the day was made, a second worker: nothing more.
    await run_digest(api)
    await api.rows("DELETE FROM digests RETURNING day")
    await run_digest(api)
    await run_digest(api)
    assert await digests(api) == made
    assert [tuple(r) for r in await api.rows("SELECT day, notices FROM digests")] == [(TODAY, 0)]

    # The next day: a new digest (what is near has moved on).
    at_vietnam(api, date(2026, 1, 13), time(8, 0))
    await run_digest(api)
    assert len(await digests(api)) == 4


async def test_nothing_before_the_hour_and_nothing_when_nothing_is_near(digest: NotificationApi) -> None:
    api = digest
    await a_busy_h22_and_a_calm_h23(api)
    at_vietnam(api, TODAY, time(7, 29))
    await run_digest(api)
    assert await digests(api) == []
    assert await api.rows("SELECT day FROM digests") == []  # not made yet: made later today
    # H24 has open work, but none due within two days, and H23's is far off or closed: no digest.
    await dossier(api, "H24-A", date(2026, 1, 15), agency=H24)
    await api.rows("DELETE FROM dossier_deadlines WHERE agency_code = :a RETURNING code", a=H22)
    await api.rows("DELETE FROM feedback_deadlines WHERE agency_code = :a RETURNING code", a=H22)
    at_vietnam(api, TODAY, time(7, 30))
    await run_digest(api)
    assert await digests(api) == []
    assert [tuple(r) for r in await api.rows("SELECT day, notices FROM digests")] == [(TODAY, 0)]


async def test_an_official_of_two_agencies_gets_one_digest_for_each(
    digest: NotificationApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = digest
    monkeypatch.setattr(contacts, "OFFICIALS_PAGE", 1)  # identity's pages followed to the end
    await dossier(api, "H22-A", TODAY)
    await feedback(api, "PAKN-9", date(2026, 1, 13), date(2026, 2, 1), agency=H23)
    at_vietnam(api, TODAY, time(12, 0))
    await run_digest(api)
    made = [(r.account_id, r.event_id) for r in await digests(api)]
    h22, h23 = f"digest:{H22}:2026-01-12", f"digest:{H23}:2026-01-12"
    assert made == [(SEED_OFFICIAL_ID, h22), ("official-b", h22), ("official-b", h23), ("official-c", h23)]


async def test_a_changed_default_template_is_saved_as_the_next_version_unless_an_operator_saved_one(
    digest: NotificationApi,
) -> None:
    api = digest
    versions = "SELECT version, saved_by FROM templates WHERE kind = 'official-digest' AND language = 'vi' ORDER BY 1"
    assert [tuple(r) for r in await api.rows(versions)] == [(1, "portal")]
    # A database made before the digest's values changed: the portal's old version is current.
    old = ("INSERT INTO templates SELECT kind, language, :v, jsonb_set(texts, '{subject}', '\"cũ\"'), variables, "
           "saved_at, :by FROM templates WHERE kind = 'official-digest' AND language = 'vi' AND version = 1 "
           "RETURNING 1")  # fmt: skip
    await api.rows(old, v=2, by="portal")
    await _templates(api)
    assert [tuple(r) for r in await api.rows(versions)] == [(1, "portal"), (2, "portal"), (3, "portal")]
    texts = await api.rows("SELECT version, texts->>'subject' AS s FROM templates WHERE kind = 'official-digest' "
                           "AND language = 'vi' ORDER BY 1")  # fmt: skip
    assert texts[0].s == texts[2].s != texts[1].s
    await api.rows(old, v=4, by="admin-1")  # an operator's own words stay
    await _templates(api)
    assert [r.version for r in await api.rows(versions)] == [1, 2, 3, 4]
