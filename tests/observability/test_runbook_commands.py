"""The commands of docs/runbook.md, run as an operator runs them (``python -m services.<name> ...``
in a process of its own, settings from the environment) against the session's real PostgreSQL and
broker: replaying the outbox, rotating identity's keys and a client's secret, the sync service's
deliveries, and a real service's dead letters (the dossier worker's)."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import func, select, update

from contracts.envelope import CloudEvent
from services.dossier.app import SERVICE as DOSSIER
from services.kit.db import Database
from services.kit.tables import outbox
from tests.support.dossier import dossier_settings
from tests.support.events import Numbered
from tests.support.journey import TOPICS
from tests.support.kafka import create_topics, produce_raw
from tests.support.metrics import running_worker, sample, wait_metrics
from tests.support.processes import portal_env, run

pytestmark = pytest.mark.integration


def printed(result: subprocess.CompletedProcess[str]) -> dict:
    """The JSON document a command printed (its log lines go to stderr)."""
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_replay_marks_published_events_for_publishing_again(kit_db_url) -> None:
    db = Database(kit_db_url, source="dossier", topic="dossier.events")
    async with db.transaction() as uow:
        for n in range(3):
            await uow.emit(Numbered(n=n), key=f"d{n}")
        await uow.emit(Numbered(n=9), key="other", topic="dossier.other")
        await uow.connection.execute(update(outbox).values(published_at=func.now()))
        await uow.connection.execute(
            update(outbox).where(outbox.c.key == "d0").values(created_at=datetime.now(UTC) - timedelta(days=2))
        )
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    env = portal_env(DOSSIER_DATABASE_URL=kit_db_url)
    result = run(["services.dossier", "replay", "--since", since, "--topic", "dossier.events"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "2 events marked for publishing again"
    async with db.transaction() as uow:
        unpublished = (await uow.connection.execute(select(outbox.c.key).where(outbox.c.published_at.is_(None)))).all()
    await db.dispose()
    assert sorted(row.key for row in unpublished) == ["d1", "d2"]


async def test_identity_keys_and_client_secrets_rotate(identity_db_url, infra) -> None:
    env = portal_env(IDENTITY_DATABASE_URL=identity_db_url)
    seeded = run(["services.identity", "seed"], env)  # the development fixtures: demo clients
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    conn = await asyncpg.connect(identity_db_url.replace("+asyncpg", ""))
    try:
        before = await conn.fetchval("SELECT count(*) FROM signing_keys")
        routine = printed(run(["services.identity", "rotate-keys"], env))
        emergency = printed(run(["services.identity", "rotate-keys", "--now"], env))
        keys = {r["kid"]: r["activates_at"] for r in await conn.fetch("SELECT kid, activates_at FROM signing_keys")}
        secret = printed(run(["services.identity", "clients", "rotate-secret", "demo-province"], env))
    finally:
        await conn.close()
    assert len(keys) == before + 2
    assert routine["signs_from"] == "after the publish delay" and emergency["signs_from"] == "now"
    assert keys[routine["kid"]] - keys[emergency["kid"]] > timedelta(minutes=59)  # published an hour ahead
    assert secret["client_id"] == "demo-province" and len(secret["client_secret"]) >= 32


async def test_sync_deliveries_are_listed_shown_and_redelivered(sync_db_url) -> None:
    conn = await asyncpg.connect(sync_db_url.replace("+asyncpg", ""))
    try:
        ids = [
            await conn.fetchval(
                "INSERT INTO deliveries (kind, delivery_key, dossier_id, dossier_code, agency_code, payload, state, "
                "attempts, last_error) VALUES ('filing', $1, $1, $2, $3, '{}'::jsonb, $4, 12, 'HTTP 503') RETURNING id",
                str(uuid.uuid4()), f"000.00.01.H22-251203-000{n}", agency, "dead",
            )
            for n, agency in enumerate(["000.00.01.H22", "000.00.01.H22", "000.00.01.H26"])
        ]  # fmt: skip
        env = portal_env(SYNC_DATABASE_URL=sync_db_url)
        failing = printed(run(["services.sync", "deliveries", "failing"], env))
        shown = printed(run(["services.sync", "deliveries", "show", str(ids[2])], env))
        by_agency = printed(run(["services.sync", "deliveries", "redeliver", "--agency", "000.00.01.H22"], env))
        one = printed(run(["services.sync", "deliveries", "redeliver", "--delivery", str(ids[2])], env))
        again = printed(run(["services.sync", "deliveries", "redeliver", "--delivery", str(ids[2])], env))
        missing = run(["services.sync", "deliveries", "show", "999999"], env)
        states = dict(await conn.fetch("SELECT id, state FROM deliveries"))
        attempts = {r["attempts"] for r in await conn.fetch("SELECT attempts FROM deliveries")}
    finally:
        await conn.close()
    assert {(a["agency_code"], a["dead"]) for a in failing["agencies"]} == {("000.00.01.H22", 2), ("000.00.01.H26", 1)}
    assert (shown["delivery_id"], shown["agency_code"], shown["state"]) == (ids[2], "000.00.01.H26", "dead")
    assert (by_agency, one, again) == ({"redelivering": 2}, {"redelivering": 1}, {"redelivering": 0})
    assert set(states.values()) == {"pending"} and attempts == {0}
    assert missing.returncode == 1 and "No such delivery" in missing.stdout


async def test_a_real_services_dead_letters_are_listed_and_retried(dossier_db_url, infra, tmp_path) -> None:
    """The dossier worker dead-letters a catalogue event it cannot read; the operator lists it and
    retries it with ``python -m services.dossier dead-letters``: re-driven through the dossier
    outbox to catalogue.events, it is consumed again (and, still unreadable, dead-lettered anew)."""
    await create_topics(infra.bootstrap, *TOPICS)
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    settings = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files",
                                outbox_poll_seconds=0.2, metrics_sample_seconds=0.2)  # fmt: skip
    broken = CloudEvent(source="catalogue", type="catalogue.online_service.published.v1", subject="s-1",
                        data={"revision": "not a number"})  # fmt: skip
    env = portal_env(DOSSIER_DATABASE_URL=dossier_db_url, KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap)
    group, kind = "dossier.events", broken.type

    def dead_letters(m: str) -> float:
        return sample(m, "consumer_dead_letters_total", consumer=group, event_type=kind) or 0

    async with running_worker(DOSSIER, settings, parts=["relay", "consumers"]) as (_, url):
        start = dead_letters(await wait_metrics(url, lambda m: True))
        await produce_raw(infra.bootstrap, "catalogue.events", broken.kafka_value(), key=b"s-1",
                          headers=broken.kafka_headers())  # fmt: skip
        await wait_metrics(url, lambda m: dead_letters(m) == start + 1)
        listed: list[dict] = []
        for _ in range(30):
            listed = [x for x in printed(run(["services.dossier", "dead-letters", "list", "--since", since], env))
                      ["dead_letters"] if x["event_id"] == broken.id]  # fmt: skip
            if listed:
                break
        [letter] = listed
        assert (letter["consumer"], letter["topic"], letter["event_type"]) == (group, "catalogue.events", kind)
        retried = printed(run(["services.dossier", "dead-letters", "retry", "--since", since, "--id", broken.id], env))
        assert retried == {"retried": [letter["id"]], "already_retried": [], "unreadable": []}
        # Re-driven: published again to catalogue.events from the dossier outbox, consumed, refused again.
        await wait_metrics(url, lambda m: dead_letters(m) == start + 2)
        db = Database(dossier_db_url, source="dossier", topic="dossier.events")
        async with db.transaction() as uow:
            row = (await uow.connection.execute(select(outbox).where(outbox.c.event_id == broken.id))).one()
        await db.dispose()
        assert (row.topic, row.key, row.type, row.source) == ("catalogue.events", "s-1", kind, "catalogue")
        again = printed(run(["services.dossier", "dead-letters", "retry", "--since", since, "--id", broken.id], env))
    assert letter["id"] in again["already_retried"]
