"""Delivery end to end on real components: a notice's messages handed over by the dispatcher to
the sandbox mailbox over SMTP (STARTTLS, AUTH) and to the sandbox SMS providers over HTTP, the
contact details asked of the real identity service as its confidential client, the SMS receipts
posted back, signed, to the notification API; retries, failover and the per-person limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from contracts.events.dossier import DossierSubmitted
from deploy.local.components import free_port
from deploy.sandbox.mailbox import MailboxSettings, running
from deploy.sandbox.messaging import MessagingSettings
from deploy.sandbox.messaging import create_app as create_messaging
from services.identity.app import create_app as create_identity
from services.identity.service.seed import SEED_CITIZEN_ID
from services.identity.settings import IdentitySettings
from services.notification.adapters.providers import SmsProviderSettings, SmtpProviderSettings
from services.notification.app import create_app
from services.notification.service import jobs
from tests.support.identity import identity_settings, seed_identity
from tests.support.notification import NotificationApi, dossier_submitted, notification_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration

PHONE = "+84912345678"  # the seeded citizen's verified phone
EMAIL = "an.nguyen@example.vn"


@dataclass
class Delivery:
    api: NotificationApi
    mailbox_url: str
    messaging_url: str

    async def run_dispatcher(self) -> None:
        db = self.api.db()
        try:
            await jobs.dispatch_due(db, self.api.settings)
        finally:
            await db.dispose()

    async def statuses(self) -> dict[str, tuple[str, str | None, int]]:
        rows = await self.api.rows("SELECT channel, status, provider, attempts FROM messages")
        return {r.channel: (r.status, r.provider, r.attempts) for r in rows}

    async def until(self, check: Any, seconds: float = 15) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            got = await check()
            if got or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.1)

    def move_clock(self, seconds: float) -> None:
        self.api.clock_file.write_text(str(seconds))

    def behave(self, provider: str, outcome: str, times: int = 1) -> None:
        answer = httpx.post(f"{self.messaging_url}/api/behaviour",
                            json={"provider": provider, "to": PHONE, "outcome": outcome, "times": times})  # fmt: skip
        assert answer.status_code in (200, 201, 204), answer.text


@contextmanager
def identity(db_url: str, bootstrap: str) -> Iterator[tuple[str, IdentitySettings]]:
    """Identity on real HTTP, its fixtures seeded, verifying its own tokens (its JWKS at itself)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = identity_settings(db_url, bootstrap, oidc_issuer=url, oidc_jwks_url=f"{url}/oauth2/jwks")
    seed_identity(db_url, settings)
    with serve(create_identity(settings), port=port):
        yield url, settings


@pytest.fixture
def delivery(notification_db_url, identity_db_url, infra, tmp_path: Path) -> Iterator[Delivery]:  # type: ignore[no-untyped-def]
    with identity(identity_db_url, infra.bootstrap) as (identity_url, identity_config), \
            providers(tmp_path) as (box, messaging, api_port):  # fmt: skip
        yield from _delivery(notification_db_url, infra.bootstrap, tmp_path, identity_url, identity_config, box,
                             messaging, api_port)  # fmt: skip


@contextmanager
def providers(tmp_path: Path) -> Iterator[tuple[Any, str, int]]:
    """The sandbox mailbox and messaging providers, the latter posting receipts to the port the
    notification API will take."""
    api_port = free_port()
    receipts = f"http://127.0.0.1:{api_port}/api/v1/notification/receipts/sms/sandbox-{{provider}}"
    sandbox = MessagingSettings(receipt_url=receipts, delivery_delay_seconds=0.05, receipt_retry_seconds=0.2)
    with running(MailboxSettings(smtp_port=0, http_port=0, certificate_file=tmp_path / "mailbox.pem")) as box, \
            serve(create_messaging(sandbox)) as messaging:  # fmt: skip
        yield box, messaging, api_port


def _delivery(db_url: str, bootstrap: str, tmp_path: Path, identity_url: str, identity_config: IdentitySettings,
              box: Any, messaging: str, api_port: int) -> Iterator[Delivery]:  # fmt: skip
    certificate = tmp_path / "mailbox.pem"
    email = [SmtpProviderSettings(name="mailbox", host="127.0.0.1", port=box.smtp_port,
                                  sender="no-reply@portal.test", username="portal",
                                  password=SecretStr("development"), ca_file=certificate)]  # fmt: skip
    sms = [SmsProviderSettings(name=f"sandbox-{x}", base_url=f"{messaging}/{x}",
                               api_key=SecretStr(f"development-sms-{x}-key"),
                               signing_secret=SecretStr(f"development-sms-{x}-secret"))
           for x in ("a", "b")]  # fmt: skip
    clock_file = tmp_path / "clock"
    settings = notification_settings(
        db_url, bootstrap, email_providers=email, sms_providers=sms, push_providers=[], identity_url=identity_url,
        contacts_client_secret=identity_config.notification_client_secret, dev_clock_offset_file=clock_file,
        sms_per_recipient_per_hour=3,
    )  # fmt: skip
    with serve(create_app(settings), port=api_port) as api_url:
        yield Delivery(NotificationApi(api_url, db_url, {}, clock_file, settings), box.url, messaging)


async def test_a_filing_reaches_the_owner_by_email_and_sms_once(delivery: Delivery) -> None:
    data = dossier_submitted(SEED_CITIZEN_ID)
    event_id = await delivery.api.consume(DossierSubmitted.TYPE, data, "dossier")
    await delivery.api.consume(DossierSubmitted.TYPE, data, "dossier", event_id=event_id)  # redelivered
    await delivery.run_dispatcher()
    await delivery.run_dispatcher()  # nothing more is due
    mails = httpx.get(f"{delivery.mailbox_url}/api/messages").json()
    mails = mails["messages"] if isinstance(mails, dict) else mails
    assert len(mails) == 1 and EMAIL in str(mails[0]["to"])
    assert mails[0]["subject"] == "Hồ sơ H22.01-260105-0001 đã được tiếp nhận"
    texts = httpx.get(f"{delivery.messaging_url}/api/sms", params={"to": PHONE}).json()
    texts = texts["messages"] if isinstance(texts, dict) else texts
    assert len(texts) == 1 and "H22.01-260105-0001" in str(texts[0])

    async def sms_delivered() -> bool:
        return (await delivery.statuses())["sms"][0] == "delivered"

    assert await delivery.until(sms_delivered), await delivery.statuses()  # the signed receipt came back
    assert (await delivery.statuses())["email"] == ("delivered", "mailbox", 1)


async def test_a_temporary_failure_is_retried_later_on_the_next_provider(delivery: Delivery) -> None:
    delivery.behave("a", "refuse-temporary")
    await delivery.api.consume(DossierSubmitted.TYPE, dossier_submitted(SEED_CITIZEN_ID), "dossier")
    await delivery.run_dispatcher()
    status, provider, attempts = (await delivery.statuses())["sms"]
    assert (status, provider, attempts) == ("created", "sandbox-a", 1)  # waits for its backoff
    await delivery.run_dispatcher()
    assert (await delivery.statuses())["sms"][2] == 1  # not due yet: not tried again
    delivery.move_clock(60)
    await delivery.run_dispatcher()

    async def delivered_by_b() -> bool:
        return (await delivery.statuses())["sms"][:2] == ("delivered", "sandbox-b")

    assert await delivery.until(delivered_by_b), await delivery.statuses()


async def test_a_permanent_failure_switches_to_the_second_provider_at_once(delivery: Delivery) -> None:
    delivery.behave("a", "permanent")  # taken, then a failed receipt: permanent
    await delivery.api.consume(DossierSubmitted.TYPE, dossier_submitted(SEED_CITIZEN_ID), "dossier")
    await delivery.run_dispatcher()

    async def back_to_created() -> bool:
        return (await delivery.statuses())["sms"][0] == "created"

    assert await delivery.until(back_to_created), await delivery.statuses()
    await delivery.run_dispatcher()

    async def delivered_by_b() -> bool:
        return (await delivery.statuses())["sms"][:2] == ("delivered", "sandbox-b")

    assert await delivery.until(delivered_by_b), await delivery.statuses()
    refused = await delivery.api.rows("SELECT refused_by FROM messages WHERE channel = 'sms'")
    assert refused[0].refused_by == ["sandbox-a"]


async def test_one_person_gets_no_more_sms_an_hour_than_the_limit(delivery: Delivery) -> None:
    for i in range(5):
        await delivery.api.consume(DossierSubmitted.TYPE, dossier_submitted(SEED_CITIZEN_ID, code=f"H22.01-X-{i}"),
                                   "dossier")  # fmt: skip
    await delivery.run_dispatcher()
    rows = await delivery.api.rows("SELECT status, count(*) AS n FROM messages WHERE channel = 'sms' GROUP BY status")
    counts = {r.status: r.n for r in rows}
    assert counts.get("created") == 2 and counts.get("created", 0) + sum(
        n for s, n in counts.items() if s in ("sending", "delivered")) == 5, counts  # fmt: skip
    waiting = await delivery.api.rows("SELECT min(due_at - created_at) AS wait FROM messages WHERE status = 'created'")
    assert waiting[0].wait.total_seconds() > 3000  # until the hour allows


async def test_dispatchers_in_several_workers_together_keep_the_limit(delivery: Delivery) -> None:
    """Every worker dispatches: two dispatchers at once hand each message over once, and an SMS
    one of them holds leased counts against the person's limit for the other."""
    from services.notification.domain.messages import RecipientLimit
    from services.notification.service import dispatch
    from services.notification.service.unit_of_work import notification_unit

    for i in range(5):
        await delivery.api.consume(DossierSubmitted.TYPE, dossier_submitted(SEED_CITIZEN_ID, code=f"H22.01-Y-{i}"),
                                   "dossier")  # fmt: skip
    db = delivery.api.db()
    limit, now = RecipientLimit(count=3), datetime.now(UTC)
    try:
        async with db.transaction() as unit:  # one dispatcher claims: three SMS, and is still sending them
            held = await dispatch.claim(notification_unit(unit), now, 100, limit)
        await delivery.api.rows("UPDATE messages SET due_at = now() - interval '1 second' "
                                "WHERE status = 'created' AND leased_until IS NULL RETURNING id")  # fmt: skip
        async with db.transaction() as unit:  # another claims what is due: the held three count
            rest = await dispatch.claim(notification_unit(unit), now, 100, limit)
    finally:
        await db.dispose()
    assert sorted(m.channel.value for m, _ in held) == ["email"] * 5 + ["sms"] * 3
    assert all(m.leased_until == now + dispatch.LEASE for m, _ in held)
    assert rest == []  # the two other SMS wait for the hour to allow them

    await delivery.api.rows(
        "UPDATE messages SET due_at = now() - interval '1 second', leased_until = NULL "
        "WHERE leased_until IS NOT NULL RETURNING id"
    )  # the leases ran out: due again
    await asyncio.gather(delivery.run_dispatcher(), delivery.run_dispatcher())
    rows = await delivery.api.rows("SELECT channel, status, count(*) AS n FROM messages GROUP BY 1, 2")
    counts = {(r.channel, r.status): r.n for r in rows}
    handed_sms = sum(n for (c, s), n in counts.items() if c == "sms" and s in ("sending", "delivered"))
    assert handed_sms == 3 and counts[("sms", "created")] == 2, counts
    assert counts.get(("email", "delivered")) == 5, counts
    mails = httpx.get(f"{delivery.mailbox_url}/api/messages").json()
    mails = mails["messages"] if isinstance(mails, dict) else mails
    assert len(mails) == 5  # each once, whichever dispatcher took it
    texts = httpx.get(f"{delivery.messaging_url}/api/sms").json()["messages"]
    assert len(texts) == 3


async def test_no_contact_no_message_and_nothing_personal_kept(delivery: Delivery) -> None:
    await delivery.api.consume(DossierSubmitted.TYPE, dossier_submitted("no-such-account"), "dossier")
    await delivery.run_dispatcher()
    statuses = await delivery.statuses()
    assert statuses["sms"][0] == "permanent-failure" and statuses["email"][0] == "permanent-failure"
    everything = await delivery.api.rows("SELECT m.*::text AS row FROM messages m")
    assert not any(PHONE in r.row or EMAIL in r.row for r in everything)
