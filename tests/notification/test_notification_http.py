"""The notification service over real HTTP on its own PostgreSQL: events make notices once,
whatever their redeliveries; each person reads and changes only their own inbox; preferences,
devices and templates keep their rules; the inbox stream shows a new notice as it arrives."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import date

import httpx
import pytest

from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import FeedbackAnswered
from contracts.events.payment import PaymentSucceeded
from tests.support.notification import NotificationApi, dossier_submitted, status_changed

pytestmark = pytest.mark.integration

OWNER = "citizen-1"


async def filed(api: NotificationApi, owner: str | None = OWNER, **kw: object) -> tuple[str, str]:
    data = dossier_submitted(owner, **kw)  # type: ignore[arg-type]
    event_id = await api.consume(DossierSubmitted.TYPE, data, "dossier")
    return data["dossier_id"], event_id


async def counts(api: NotificationApi) -> tuple[int, int, int]:
    rows = await api.rows("SELECT (SELECT count(*) FROM notices), (SELECT count(*) FROM inbox_items), "
                          "(SELECT count(*) FROM messages)")  # fmt: skip
    return tuple(rows[0])  # type: ignore[return-value]


async def test_a_filing_notifies_its_owner_once_whatever_the_redeliveries(notification_api: NotificationApi) -> None:
    api = notification_api
    data = dossier_submitted(OWNER)
    event_id = await api.consume(DossierSubmitted.TYPE, data, "dossier")
    for _ in range(3):
        await api.consume(DossierSubmitted.TYPE, data, "dossier", event_id=event_id)
    assert await counts(api) == (1, 1, 2)  # one notice, one inbox item, an SMS and an e-mail (no device)
    channels = await api.rows("SELECT channel, status, content FROM messages ORDER BY channel")
    assert [(r.channel, r.status) for r in channels] == [("email", "created"), ("sms", "created")]
    assert "H22.01-260105-0001" in channels[0].content["subject"] and "2026-01-12" in channels[1].content["text"]
    async with api.client() as client:
        inbox = (await client.get("/inbox", headers=api.person(OWNER))).json()
    assert inbox["unread"] == 1 and inbox["items"][0]["kind"] == "dossier-received"
    assert inbox["items"][0]["link"].endswith(f"/dossiers/{data['dossier_id']}")


async def test_a_dossier_filed_at_a_counter_notifies_no_one(notification_api: NotificationApi) -> None:
    await filed(notification_api, owner=None)
    assert await counts(notification_api) == (0, 0, 0)


async def test_statuses_4_9_and_10_notify_once_each_and_a_new_date_too(notification_api: NotificationApi) -> None:
    api = notification_api
    dossier_id, _ = await filed(api)
    for previous, status in ((1, 2), (2, 4), (4, 9), (9, 10)):
        event_id = await api.consume(StatusChanged.TYPE, status_changed(dossier_id, previous, status), "dossier")
        await api.consume(StatusChanged.TYPE, status_changed(dossier_id, previous, status), "dossier", event_id)
    moved = status_changed(dossier_id, 4, 4, appointment=date(2026, 1, 20))
    await api.consume(StatusChanged.TYPE, moved, "dossier")
    kinds = [r.kind for r in await api.rows("SELECT kind FROM notices ORDER BY created_at, kind")]
    assert sorted(kinds) == sorted(["dossier-received", "dossier-in-processing", "dossier-processed",
                                    "result-returned", "appointment-changed"])  # fmt: skip
    body = (await api.rows("SELECT body FROM inbox_items WHERE kind = 'appointment-changed'"))[0].body
    assert "2026-01-20" in body


async def test_one_person_never_sees_or_marks_anothers_notices(notification_api: NotificationApi) -> None:
    api = notification_api
    await filed(api, owner="citizen-a")
    async with api.client() as client:
        mine = (await client.get("/inbox", headers=api.person("citizen-a"))).json()["items"]
        theirs = await client.get("/inbox", headers=api.person("citizen-b"))
        assert theirs.status_code == 200 and theirs.json() == {"items": [], "next": None, "unread": 0}
        marked = await client.post(f"/inbox/{mine[0]['id']}/read", headers=api.person("citizen-b"))
        assert marked.status_code == 404 and marked.headers["content-type"] == "application/problem+json"
        assert (await client.get("/inbox/unread", headers=api.person("citizen-a"))).json() == {"unread": 1}
        ok = await client.post(f"/inbox/{mine[0]['id']}/read", headers=api.person("citizen-a"))
        assert ok.json() == {"marked": 1}
        again = await client.post(f"/inbox/{mine[0]['id']}/read", headers=api.person("citizen-a"))
        assert again.status_code == 200 and again.json() == {"marked": 0}  # already read: nothing changes
        assert (await client.get("/inbox/unread", headers=api.person("citizen-a"))).json() == {"unread": 0}
        assert (await client.get("/inbox")).status_code == 401
        assert (await client.get("/inbox", headers=api.operator())).status_code == 403  # no notification:read


async def test_the_inbox_pages_newest_first(notification_api: NotificationApi) -> None:
    api = notification_api
    for i in range(5):
        await filed(api, code=f"H22.01-260105-000{i}")
    seen: list[str] = []
    async with api.client() as client:
        url: str | None = "/inbox?limit=2"
        while url is not None:
            page = (await client.get(url, headers=api.person(OWNER))).json()
            seen += [item["body"] for item in page["items"]]
            url = f"/inbox?limit=2&cursor={page['next']}" if page["next"] else None
        bad = await client.get("/inbox?cursor=not-ours", headers=api.person(OWNER))
        too_many = await client.get("/inbox?limit=101", headers=api.person(OWNER))
    assert [s.split()[2] for s in seen] == [f"H22.01-260105-000{i}" for i in reversed(range(5))]
    assert bad.status_code == 400 and too_many.status_code == 422


async def test_essential_notices_cannot_be_switched_off_and_others_can(notification_api: NotificationApi) -> None:
    api = notification_api
    async with api.client() as client:
        refused = await client.put("/preferences", headers=api.person(OWNER),
                                   json={"channels": ["email"], "switched_off": ["result-returned"]})  # fmt: skip
        assert refused.status_code == 422 and "switched_off" in refused.text  # essential: not a choice
        chosen = await client.put("/preferences", headers=api.person(OWNER),
                                  json={"channels": ["email"], "switched_off": ["payment-succeeded"]})  # fmt: skip
        assert chosen.status_code == 200 and chosen.json()["channels"] == ["email"]
        assert (await client.get("/preferences", headers=api.person(OWNER))).json()["switched_off"] == [
            "payment-succeeded"
        ]
        unknown = await client.put("/preferences", headers=api.person(OWNER), json={"channels": ["fax"]})
        assert unknown.status_code == 422
    dossier_id, _ = await filed(api)  # essential: SMS and e-mail whatever was chosen
    paid = {"order_id": str(uuid.uuid4()), "dossier_id": dossier_id, "dossier_code": "H22.01-260105-0001",
            "amount": 150000, "provider": "vnpay", "receipt_number": "R1",
            "paid_at": "2026-01-05T03:00:00Z"}  # fmt: skip
    await api.consume(PaymentSucceeded.TYPE, paid, "payment")
    await api.consume(StatusChanged.TYPE, status_changed(dossier_id, 2, 4), "dossier")
    rows = await api.rows("SELECT n.kind, m.channel FROM notices n LEFT JOIN messages m ON m.notice_id = n.id "
                          "ORDER BY n.kind, m.channel")  # fmt: skip
    assert [(r.kind, r.channel) for r in rows] == [
        ("dossier-in-processing", "email"),  # chosen: e-mail only
        ("dossier-received", "email"), ("dossier-received", "sms"),  # essential
        ("payment-succeeded", None),  # switched off: the inbox only
    ]  # fmt: skip


async def test_feedback_answers_reach_their_sender_and_recorded_feedback_no_one(
    notification_api: NotificationApi,
) -> None:
    api = notification_api
    answered = {"feedback_id": str(uuid.uuid4()), "code": "PAKN-2026-000001", "sender": OWNER,
                "agency_code": "000.00.01.H22", "answered_at": "2026-01-05T03:00:00Z", "on_time": True}  # fmt: skip
    await api.consume(FeedbackAnswered.TYPE, answered, "feedback")
    await api.consume(FeedbackAnswered.TYPE, {**answered, "feedback_id": str(uuid.uuid4()), "sender": ""}, "feedback")
    rows = await api.rows("SELECT account_id, kind FROM notices")
    assert [(r.account_id, r.kind) for r in rows] == [(OWNER, "feedback-answered")]


async def test_devices_are_the_callers_own_and_limited(notification_api: NotificationApi) -> None:
    api = notification_api
    async with api.client() as client:
        for i in range(api.settings.devices_per_account):
            made = await client.post("/devices", headers=api.person(OWNER),
                                     json={"token": f"device-token-{i:04d}", "platform": "android"})  # fmt: skip
            assert made.status_code == 201
        over = await client.post("/devices", headers=api.person(OWNER),
                                 json={"token": "device-token-extra", "platform": "ios"})  # fmt: skip
        assert over.status_code == 409
        again = await client.post("/devices", headers=api.person(OWNER),
                                  json={"token": "device-token-0000", "platform": "android"})  # fmt: skip
        assert again.status_code == 201  # the same device again is no new one
        theirs = await client.post("/devices/removal", headers=api.person("citizen-b"),
                                   json={"token": "device-token-0000"})  # fmt: skip
        assert theirs.status_code == 404
        mine = await client.post("/devices/removal", headers=api.person(OWNER), json={"token": "device-token-0000"})
        assert mine.status_code == 204
    await filed(api)
    pushes = await api.rows("SELECT count(*) AS n FROM messages WHERE channel = 'push'")
    assert pushes[0].n == api.settings.devices_per_account - 1  # one per device still registered


async def test_operators_save_checked_versions_and_preview_them(notification_api: NotificationApi) -> None:
    api = notification_api
    async with api.client() as client:
        listed = await client.get("/templates", headers=api.operator())
        assert listed.status_code == 200 and len(listed.json()) >= 12
        current = (await client.get("/templates/result-returned/vi", headers=api.operator())).json()
        texts = {**current["texts"], "sms": "DVCQG: Co ket qua ho so {{ code }}."}
        saved = await client.put("/templates/result-returned/vi", headers=api.operator(),
                                 json={"texts": texts, "variables": current["variables"]})  # fmt: skip
        assert saved.status_code == 201 and saved.json()["version"] == current["version"] + 1
        typo_texts = {**texts, "sms": "{{ cod }}"}
        typo = await client.put("/templates/result-returned/vi", headers=api.operator(),
                                json={"texts": typo_texts, "variables": current["variables"]})  # fmt: skip
        assert typo.status_code == 422 and "cod" in typo.text
        preview = await client.post("/templates/result-returned/vi/preview", headers=api.operator(),
                                    json={"values": {"code": "X1", "procedure": "P", "link": "https://l"}})  # fmt: skip
        assert preview.json()["texts"]["sms"] == "DVCQG: Co ket qua ho so X1."
        wrong = await client.post("/templates/result-returned/vi/preview", headers=api.operator(),
                                  json={"values": {"code": 5}})  # fmt: skip
        assert wrong.status_code == 200 and wrong.json()["texts"] is None  # what is wrong, shown
        assert {p["field"] for p in wrong.json()["problems"]} == {"code", "values"}
        trial = await client.post("/templates/result-returned/vi/preview", headers=api.operator(), json={
            "values": {"code": "X1"}, "texts": {**texts, "sms": "{{ cod }}"}})  # fmt: skip
        assert trial.json()["problems"][0]["field"] == "sms" and trial.json()["version"] == 0
        assert (await client.get("/templates", headers=api.person(OWNER))).status_code == 403
        assert (await client.get("/templates/no-such-kind/vi", headers=api.operator())).status_code == 422


async def read_events(response: httpx.Response, wanted: int) -> list[tuple[str, dict[str, object]]]:
    """The first ``wanted`` events of a stream (comments skipped)."""
    events: list[tuple[str, dict[str, object]]] = []
    name = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name:
            events.append((name, json.loads(line.removeprefix("data: "))))
            if len(events) == wanted:
                return events
    return events


async def test_the_stream_shows_a_new_notice_as_it_arrives(notification_api: NotificationApi) -> None:
    api = notification_api
    async with api.client() as client, client.stream("GET", "/inbox/stream", headers=api.person(OWNER)) as live:
        assert live.status_code == 200 and live.headers["content-type"].startswith("text/event-stream")
        reader = asyncio.create_task(read_events(live, 3))
        await asyncio.sleep(0.3)
        await filed(api)
        events = await asyncio.wait_for(reader, 20)
    assert events[0] == ("unread", {"unread": 0})
    assert events[1][0] == "item" and events[1][1]["kind"] == "dossier-received"
    assert events[2] == ("unread", {"unread": 1})


async def test_streams_are_limited_per_person(notification_api: NotificationApi) -> None:
    api = notification_api
    async with api.client() as client:
        opened = [client.stream("GET", "/inbox/stream", headers=api.person(OWNER)) for _ in range(2)]
        held = [await s.__aenter__() for s in opened]
        try:
            assert all(r.status_code == 200 for r in held)
            over = await client.get("/inbox/stream", headers=api.person(OWNER))
            assert over.status_code == 429 and over.headers["content-type"] == "application/problem+json"
            other = client.stream("GET", "/inbox/stream", headers=api.person("citizen-b"))
            async with other as theirs:
                assert theirs.status_code == 200
        finally:
            for s in opened:
                await s.__aexit__(None, None, None)


async def test_a_deleted_account_leaves_nothing_of_the_person(notification_api: NotificationApi) -> None:
    from contracts.events.identity_accounts import AccountDeleted

    api = notification_api
    async with api.client() as client:
        await client.put("/preferences", headers=api.person(OWNER), json={"channels": ["sms"]})
        await client.post("/devices", headers=api.person(OWNER), json={"token": "device-token-0001", "platform": "ios"})
    await filed(api)
    await filed(api, owner="citizen-2")
    deleted = {"account_id": OWNER, "kind": "citizen", "deleted_at": "2026-01-06T00:00:00Z"}
    await api.consume(AccountDeleted.TYPE, deleted, "identity")
    await api.consume(AccountDeleted.TYPE, deleted, "identity")  # redelivered: nothing more to do
    left = await api.rows(
        "SELECT (SELECT count(*) FROM inbox_items WHERE account_id = :a) AS items,"
        " (SELECT count(*) FROM devices WHERE account_id = :a) AS devices,"
        " (SELECT count(*) FROM preferences WHERE account_id = :a) AS chosen,"
        " (SELECT count(*) FROM messages WHERE account_id = :a AND content IS NOT NULL) AS texts,"
        " (SELECT count(*) FROM inbox_items WHERE account_id = 'citizen-2') AS others",
        a=OWNER,
    )
    assert tuple(left[0]) == (0, 0, 0, 0, 1)


async def test_message_texts_are_purged_after_the_retention_and_statuses_kept(
    notification_api: NotificationApi,
) -> None:
    from services.notification.service import jobs

    api = notification_api
    await filed(api)
    api.clock_file.write_text(str((api.settings.retention_days - 1) * 86_400))
    await filed(api, code="H22.01-260105-0002")  # made a day before the old one's retention ends
    db = api.db()
    try:
        await jobs.purge(db, api.settings)
        assert (await api.rows("SELECT count(*) AS n FROM messages WHERE content IS NULL"))[0].n == 0
        api.clock_file.write_text(str((api.settings.retention_days + 0.5) * 86_400))
        await jobs.purge(db, api.settings)
    finally:
        await db.dispose()
    rows = await api.rows("SELECT content IS NULL AS purged, status FROM messages ORDER BY created_at")
    assert [(r.purged, r.status) for r in rows] == [(True, "created"), (True, "created"), (False, "created"),
                                                    (False, "created")]  # fmt: skip


async def test_a_failed_or_expiring_payment_tells_the_payer_once(notification_api: NotificationApi) -> None:
    from contracts.events.payment import PaymentExpiring, PaymentFailed

    api = notification_api
    order = {"order_id": str(uuid.uuid4()), "dossier_id": str(uuid.uuid4()), "dossier_code": "H22.01-260105-0009",
             "owner": OWNER, "amount": 150000}  # fmt: skip
    failed = await api.consume(PaymentFailed.TYPE, {**order, "reason": "declined",
                                                    "failed_at": "2026-01-05T03:00:00Z"}, "payment")  # fmt: skip
    await api.consume(PaymentFailed.TYPE, {**order, "reason": "declined", "failed_at": "2026-01-05T03:00:00Z"},
                      "payment", event_id=failed)  # fmt: skip
    await api.consume(PaymentExpiring.TYPE, {**order, "expires_at": "2026-01-05T03:15:00Z"}, "payment")
    rows = await api.rows("SELECT n.kind, i.body FROM notices n JOIN inbox_items i ON i.notice_id = n.id "
                          "ORDER BY n.kind")  # fmt: skip
    assert [r.kind for r in rows] == ["payment-expiring", "payment-failed"]
    assert all("150.000 VND" in r.body and "H22.01-260105-0009" in r.body for r in rows)
    urgent = await api.rows("SELECT bool_and(urgent) AS all_urgent FROM messages")
    assert urgent[0].all_urgent  # not held back by quiet hours


async def test_a_run_of_events_notifies_as_the_same_events_one_by_one(notification_api: NotificationApi) -> None:
    """The consumer hands runs of events to one handler in one transaction: a filing and its
    status changes in the same run, a redelivery inside it, a new date, a dossier no one owns."""
    from contracts.envelope import CloudEvent

    api = notification_api
    data = dossier_submitted(OWNER, appointment=date(2026, 1, 12))
    filing = CloudEvent(source="dossier", type=DossierSubmitted.TYPE, data=data)
    counter = CloudEvent(source="dossier", type=DossierSubmitted.TYPE, data=dossier_submitted(None))
    changes = [CloudEvent(source="dossier", type=StatusChanged.TYPE, data=status_changed(data["dossier_id"], p, s))
               for p, s in ((1, 2), (2, 4))]  # fmt: skip
    moved = CloudEvent(source="dossier", type=StatusChanged.TYPE,
                       data=status_changed(data["dossier_id"], 4, 4, appointment=date(2026, 1, 19)))  # fmt: skip
    await api.consume_run([filing, counter, *changes, filing, moved])
    await api.consume_run([moved])  # redelivered in a later run
    kinds = sorted(r.kind for r in await api.rows("SELECT kind FROM notices"))
    assert kinds == ["appointment-changed", "dossier-in-processing", "dossier-received"]
    kept = await api.rows("SELECT appointment_date FROM dossiers")
    assert [r.appointment_date for r in kept] == [date(2026, 1, 19)]
    assert (await counts(api))[2] == 6  # SMS and e-mail for each of the three


async def test_receipts_are_believed_only_when_signed_by_a_known_provider(notification_api: NotificationApi) -> None:
    from services.kit import webhooks

    api = notification_api
    secret = api.settings.sms_providers[0].signing_secret.get_secret_value()
    name = api.settings.sms_providers[0].name
    body = b'{"id": "ref-1", "status": "delivered", "at": "2026-01-05T03:00:00+07:00"}'
    now = int(time.time())
    async with api.client() as client:
        unsigned = await client.post(f"/receipts/sms/{name}", content=body)
        forged = await client.post(f"/receipts/sms/{name}", content=body,
                                   headers={"X-Signature": webhooks.sign(body, "not-the-secret", now)})  # fmt: skip
        stranger = await client.post("/receipts/sms/nobody", content=body,
                                     headers={"X-Signature": webhooks.sign(body, secret, now)})  # fmt: skip
        garbled = await client.post(f"/receipts/sms/{name}", content=b"[1]",
                                    headers={"X-Signature": webhooks.sign(b"[1]", secret, now)})  # fmt: skip
        unknown = await client.post(f"/receipts/sms/{name}", content=body,
                                    headers={"X-Signature": webhooks.sign(body, secret, now)})  # fmt: skip
    assert (unsigned.status_code, forged.status_code, stranger.status_code) == (401, 401, 404)
    assert garbled.status_code == 400 and unknown.status_code == 404  # signed, but no message has that reference
    assert all(r.headers["content-type"] == "application/problem+json" for r in (unsigned, forged, garbled))


async def test_many_receipts_in_one_post_are_applied_together_and_an_unknown_one_asks_for_a_repeat(
    notification_api: NotificationApi,
) -> None:
    from services.kit import webhooks

    api = notification_api
    await filed(api)
    await filed(api)
    await api.rows("UPDATE messages SET status = 'sending', provider = 'sandbox-a', reference = 'ref-' || channel "
                   "|| '-' || (SELECT count(*) FROM messages m WHERE m.id < messages.id) RETURNING id")  # fmt: skip
    references = sorted(r.reference for r in await api.rows("SELECT reference FROM messages"))
    secret = api.settings.sms_providers[0].signing_secret.get_secret_value()
    at = "2026-01-05T03:00:00+07:00"
    failed = {"status": "failed", "permanent": True, "at": at, "error": "unknown_subscriber"}
    delivered = {"status": "delivered", "at": at}
    told = [
        {"id": references[0], **delivered},
        {"id": references[1], **failed},
        {"id": references[2], **delivered},
        {"id": "ref-nobody", **delivered},
    ]
    body = json.dumps({"receipts": told}).encode()
    async with api.client() as client:
        first = await client.post("/receipts/sms/sandbox-a", content=body,
                                  headers={"X-Signature": webhooks.sign(body, secret, int(time.time()))})  # fmt: skip
        statuses = {r.reference: r.status for r in await api.rows("SELECT reference, status FROM messages")}
        again = await client.post("/receipts/sms/sandbox-a", content=body,
                                  headers={"X-Signature": webhooks.sign(body, secret, int(time.time()))})  # fmt: skip
        known = json.dumps({"receipts": told[:3]}).encode()
        last = await client.post("/receipts/sms/sandbox-a", content=known,
                                 headers={"X-Signature": webhooks.sign(known, secret, int(time.time()))})  # fmt: skip
    assert first.status_code == 404 and "1 of the 4 receipts" in first.json()["detail"]
    assert statuses == {
        references[0]: "delivered",
        references[1]: "created",
        references[2]: "delivered",
        references[3]: "sending",
    }  # fmt: skip (the failure moves to the next provider at once)
    assert again.status_code == 404 and last.status_code == 204
    after = {r.reference: r.status for r in await api.rows("SELECT reference, status FROM messages")}
    assert after == statuses  # applying them again changes nothing
