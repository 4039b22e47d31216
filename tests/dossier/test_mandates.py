"""Acting for an enterprise in the dossier service, on real HTTP, PostgreSQL and the broker:
identity's mandate events reach the read model through the service's own consumer; a token acting
for an enterprise works while its mandate is active there with the role needed, the dossier is the
enterprise's (its representatives with read see it), the timeline names who acted for whom, and a
revocation stops the next call once its event has arrived."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from contracts.envelope import CloudEvent
from contracts.events.identity_mandates import MandateGranted, MandateRevoked
from services.dossier.adapters.tables import dossier_history, dossiers
from services.dossier.app import SERVICE
from services.kit.consumer import ConsumerRunner
from tests.conftest import unique
from tests.dossier.test_catalogue_events_delivery import consuming, producer
from tests.dossier.test_submission import rows
from tests.support.dossier import Intake, dossier_database, dossier_settings
from tests.support.kafka import create_topics

pytestmark = pytest.mark.integration

ENTERPRISE, TAX_CODE = "enterprise-1", "0101234565"
STAFF, READER, STRANGER = "staff-1", "reader-1", "stranger-1"


def granted(mandate_id: str, person: str, roles: list[str]) -> CloudEvent:
    data = MandateGranted(mandate_id=mandate_id, enterprise_id=ENTERPRISE, representative_id=person,
                          roles=roles, granted_by="legal-rep", granted_at=datetime.now(UTC))  # type: ignore[arg-type]  # fmt: skip
    return CloudEvent(
        source="identity", type=MandateGranted.TYPE, subject=ENTERPRISE, data=data.model_dump(mode="json")
    )


def revoked(mandate_id: str, person: str) -> CloudEvent:
    data = MandateRevoked(mandate_id=mandate_id, enterprise_id=ENTERPRISE, representative_id=person,
                          revoked_by="legal-rep", revoked_at=datetime.now(UTC))  # fmt: skip
    return CloudEvent(
        source="identity", type=MandateRevoked.TYPE, subject=ENTERPRISE, data=data.model_dump(mode="json")
    )


def acting(intake: Intake, person: str, mandate_id: str, roles: list[str]) -> dict[str, str]:
    entity = {"account_id": ENTERPRISE, "tax_code": TAX_CODE, "mandate_id": mandate_id, "roles": roles}
    return intake.citizen(sub=person, entity=entity)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> float:
    """Seconds until ``check`` holds (polling every 20 ms); fails after ``timeout``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, "not in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_mandated_representatives_act_for_the_enterprise_until_the_revocation_arrives(
    intake: Intake, infra: Any
) -> None:
    topic = unique("identity-events-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    [spec] = [c for c in SERVICE.consumers if c.topics == ["identity.events"]]
    db = dossier_database(intake.db_url)
    settings = dossier_settings(intake.db_url, infra.bootstrap)
    runner = ConsumerRunner(
        settings, db, name=unique("mandates-"), topics=[topic], handlers=spec.handlers_for(settings)
    )
    staff_mandate, reader_mandate = str(uuid.uuid4()), str(uuid.uuid4())
    staff = acting(intake, STAFF, staff_mandate, ["read", "submit"])
    reader = acting(intake, READER, reader_mandate, ["read"])
    try:
        async with producer(infra.bootstrap) as send, consuming(runner), intake.client() as api:
            # Before the grant has arrived, the token is refused (fail closed).
            early = await api.get("/dossiers", headers=staff)
            assert early.status_code == 403 and early.headers["content-type"] == "application/problem+json"
            await send(topic, ENTERPRISE, granted(staff_mandate, STAFF, ["read", "submit"]))
            await send(topic, ENTERPRISE, granted(reader_mandate, READER, ["read"]))
            await until(lambda: _status(api, "/dossiers", reader, 200))
            assert (await api.get("/dossiers", headers=staff)).status_code == 200

            filed = await intake.submit(api, staff)
            assert filed.status_code == 201, filed.text
            dossier_id = filed.json()["dossier_id"]
            [owner] = await rows(intake.db_url, select(dossiers.c.owner).where(dossiers.c.id == dossier_id))
            assert owner.owner == ENTERPRISE
            [line] = await rows(intake.db_url, select(dossier_history.c.actor).where(
                dossier_history.c.dossier_id == dossier_id))  # fmt: skip
            assert line.actor == f"{STAFF} for {ENTERPRISE}"

            # The enterprise's other representative with read sees it; without submit, files nothing.
            assert (await api.get(f"/dossiers/{dossier_id}", headers=reader)).status_code == 200
            assert (await intake.upload(api, reader)).status_code == 403
            # BOLA: the person's own token, a stranger, or a stranger naming someone else's mandate.
            for headers in (intake.citizen(sub=STAFF), intake.citizen(sub=STRANGER)):
                assert (await api.get(f"/dossiers/{dossier_id}", headers=headers)).status_code == 404
            forged = acting(intake, STRANGER, staff_mandate, ["read", "submit"])
            assert (await api.get(f"/dossiers/{dossier_id}", headers=forged)).status_code == 403
            malformed = intake.citizen(sub=STAFF, entity="enterprise-1")
            assert (await api.get("/dossiers", headers=malformed)).status_code == 403

            # Revoked at identity: the next call after the event arrives is refused.
            sent = time.monotonic()
            await send(topic, ENTERPRISE, revoked(staff_mandate, STAFF))
            await until(lambda: _status(api, f"/dossiers/{dossier_id}", staff, 403))
            delay = time.monotonic() - sent
            assert (await intake.upload(api, staff)).status_code == 403
            assert (await api.get(f"/dossiers/{dossier_id}", headers=reader)).status_code == 200
            # A grant delivered again after its revocation does not bring the mandate back.
            await send(topic, ENTERPRISE, granted(staff_mandate, STAFF, ["read", "submit"]))
            await send(topic, ENTERPRISE, revoked(reader_mandate, READER))
            await until(lambda: _status(api, "/dossiers", reader, 403))
            assert (await api.get("/dossiers", headers=staff)).status_code == 403
    finally:
        await db.dispose()
    print(f"revocation event to refused call: {delay * 1000:.0f} ms")
    assert delay < 10


async def _status(api: Any, path: str, headers: dict[str, str], status: int) -> bool:
    return bool((await api.get(path, headers=headers)).status_code == status)
