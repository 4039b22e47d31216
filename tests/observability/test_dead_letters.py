"""``python -m services.<name> dead-letters list|retry``: dead letters are read back from the
service's dead-letter topic, and a retry makes the consumer that gave up apply the event — once,
however often the retry is run — whether the event came from this service's own outbox or from
another service's topic."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from contracts.envelope import CloudEvent
from services.kit.app import ConsumerSpec, ServiceSpec
from services.kit.cli import main
from services.kit.db import Database, UnitOfWork
from services.kit.errors import PermanentFailure
from tests.conftest import make_settings, unique
from tests.observability.test_operator_metrics import emit, spec_of
from tests.support.kafka import create_topics, produce_raw
from tests.support.metrics import running_worker, sample, wait_metrics

pytestmark = pytest.mark.integration


async def command(spec: ServiceSpec, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    """The service's command line, as ``python -m services.<name>`` runs it (its own event loop)."""
    capsys.readouterr()
    assert await asyncio.to_thread(main, spec, list(argv)) == 0
    # What it prints (the test session's log lines may be interleaved, on their own lines).
    printed = re.search(r"^\{$.*?^\}$", capsys.readouterr().out, re.MULTILINE | re.DOTALL)
    assert printed is not None
    return json.loads(printed.group(0))  # type: ignore[no-any-return]


async def until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def test_dead_letters_are_listed_and_each_retried_once(kit_db_url, infra, capsys) -> None:
    name = unique("dlq")
    topic, foreign_topic, kind = f"{name}.events", f"{name}.elsewhere", f"{name}.thing.made.v1"
    await create_topics(infra.bootstrap, topic, foreign_topic, f"{name}.dlq")
    state = {"broken": True}
    applied: list[str] = []

    async def fragile(uow: UnitOfWork, event: CloudEvent) -> None:
        if state["broken"]:
            raise PermanentFailure("the thing's maker is missing")
        applied.append(event.id)

    settings = make_settings(name, kit_db_url, infra.bootstrap, metrics_sample_seconds=0.2)
    spec = spec_of(settings, [ConsumerSpec(name="maker", topics=[topic, foreign_topic], handlers={kind: fragile})])
    group = f"{name}.maker"
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    db = Database(kit_db_url, source=name, topic=topic)
    async with running_worker(spec, settings) as (_, url):
        [own] = await emit(db, kind)  # from this service's outbox
        foreign = CloudEvent(source="another-service", type=kind, subject="x-1", data={"n": 9},
                             traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")  # fmt: skip
        await produce_raw(infra.bootstrap, foreign_topic, foreign.kafka_value(), key=b"x-1",
                          headers=foreign.kafka_headers())  # fmt: skip
        await wait_metrics(
            url, lambda m: sample(m, "consumer_dead_letters_total", consumer=group, event_type=kind) == 2
        )

        listed: dict = {}

        async def both_listed() -> bool:
            listed.update(await command(spec, capsys, "dead-letters", "list", "--since", since))
            return len(listed["dead_letters"]) == 2

        await until(both_listed)
        letters = {x["event_id"]: x for x in listed["dead_letters"]}
        assert set(letters) == {own, foreign.id}
        assert letters[foreign.id]["topic"] == foreign_topic and letters[foreign.id]["key"] == "x-1"
        assert all(x["consumer"] == group and "maker is missing" in x["error"] for x in letters.values())
        assert listed["topic"] == f"{name}.dlq"

        state["broken"] = False
        retried = await command(spec, capsys, "dead-letters", "retry", "--since", since, "--consumer", group)
        assert sorted(retried["retried"]) == sorted(x["id"] for x in letters.values())

        async def both_applied() -> bool:
            return sorted(applied) == sorted([own, foreign.id])

        await until(both_applied)
        again = await command(spec, capsys, "dead-letters", "retry", "--since", since, "--id", foreign.id)
        assert again == {"retried": [], "already_retried": [letters[foreign.id]["id"]], "unreadable": []}
        await asyncio.sleep(1.5)  # time enough for a second delivery, were there one
    await db.dispose()
    assert sorted(applied) == sorted([own, foreign.id]), "each event applied exactly once"


async def test_a_message_that_was_no_event_is_listed_but_cannot_be_retried(kit_db_url, infra, capsys) -> None:
    name = unique("dlqbad")
    topic = f"{name}.events"
    await create_topics(infra.bootstrap, topic, f"{name}.dlq")
    settings = make_settings(name, kit_db_url, infra.bootstrap)
    spec = spec_of(settings, [ConsumerSpec(name="reader", topics=[topic], handlers={})])
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    async with running_worker(spec, settings):
        await produce_raw(infra.bootstrap, topic, b"not json at all", key=b"k")
        listed: dict = {}

        async def listed_once() -> bool:
            listed.update(await command(spec, capsys, "dead-letters", "list", "--since", since))
            return len(listed["dead_letters"]) == 1

        await until(listed_once)
        [letter] = listed["dead_letters"]
        assert letter["event_id"] is None and "invalid event" in letter["error"]
        retried = await command(spec, capsys, "dead-letters", "retry", "--since", since)
    assert retried == {"retried": [], "already_retried": [], "unreadable": [letter["id"]]}
