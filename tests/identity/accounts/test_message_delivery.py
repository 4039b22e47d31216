"""In production, messages (one-time codes) are queued in the use case's transaction,
encrypted, and delivered by the worker: no HTTP call inside a transaction, nothing sent for
a rolled-back one, retries with growing delays, nothing kept past a code's lifetime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select, text

from services.identity.adapters.accounts import outgoing_messages
from services.identity.api.jobs import deliver_queued_messages
from services.identity.domain.messages import Channel
from services.identity.service.messages import send
from services.kit.db import Database
from tests.support.identity import identity_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration


class SmsGateway:
    """A real HTTP endpoint standing in for the operator's SMS gateway."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.failing = False
        self.app = FastAPI()

        @self.app.post("/send")
        async def send(request: Request) -> Response:
            if self.failing:
                return Response(status_code=503)
            self.received.append(await request.json())
            return Response(status_code=202)


@pytest.fixture
def sms() -> Iterator[tuple[SmsGateway, str]]:
    gateway = SmsGateway()
    with serve(gateway.app) as url:
        yield gateway, f"{url}/send"


def settings_for(db: Database, infra, url: str):  # type: ignore[no-untyped-def]
    return identity_settings(
        db.engine.url.render_as_string(False), infra.bootstrap, notifier="webhook", notifier_webhook_url=url
    )


async def queued(db: Database) -> list:
    async with db.sessions() as session:
        return (await session.execute(select(outgoing_messages))).all()


async def test_a_message_is_queued_encrypted_and_sent_by_the_worker(identity_db: Database, infra, sms) -> None:
    gateway, url = sms
    settings = settings_for(identity_db, infra, url)
    async with identity_db.transaction() as uow:
        await send(uow, settings, Channel.SMS, "+84912345678", "Mã xác thực của bạn: 481516")
    assert gateway.received == []  # nothing left the building inside the transaction
    [row] = await queued(identity_db)
    assert "481516" not in row.body_encrypted

    assert await deliver_queued_messages(identity_db, settings) == {"sent": 1, "retry": 0, "expired": 0}
    assert gateway.received == [{"channel": "sms", "to": "+84912345678", "text": "Mã xác thực của bạn: 481516"}]
    assert await queued(identity_db) == []


async def test_a_rolled_back_transaction_sends_nothing(identity_db: Database, infra, sms) -> None:
    gateway, url = sms
    settings = settings_for(identity_db, infra, url)
    async with identity_db.unit_of_work() as uow:
        await send(uow, settings, Channel.SMS, "+84912345678", "code 1")
        await uow.rollback()
    await deliver_queued_messages(identity_db, settings)
    assert gateway.received == []


async def test_a_failed_delivery_is_retried_later_and_an_expired_one_dropped(identity_db: Database, infra, sms) -> None:
    gateway, url = sms
    settings = settings_for(identity_db, infra, url)
    async with identity_db.transaction() as uow:
        await send(uow, settings, Channel.SMS, "+84900000001", "code 2")
    gateway.failing = True
    assert await deliver_queued_messages(identity_db, settings) == {"sent": 0, "retry": 1, "expired": 0}
    [row] = await queued(identity_db)
    assert row.attempts == 1 and row.last_error == "HTTPStatusError" and row.next_attempt_at > row.created_at
    gateway.failing = False
    assert await deliver_queued_messages(identity_db, settings) == {"sent": 0, "retry": 0, "expired": 0}  # not due

    async with identity_db.transaction() as uow:  # make it due, and older than a code's lifetime
        await uow.connection.execute(
            text("UPDATE outgoing_messages SET next_attempt_at = now(), created_at = now() - interval '1 hour'")
        )
    assert await deliver_queued_messages(identity_db, settings) == {"sent": 0, "retry": 0, "expired": 1}
    assert gateway.received == [] and await queued(identity_db) == []
