"""Each metric an operator alerts on moves when its event happens, read through ``/metrics`` of
the running process as Prometheus reads it: a worker's own port (outbox backlog and age, consumer
lag, dead letters), the payment API (refused callbacks), the sync API (refused status records)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from services.kit.app import ConsumerSpec, ServiceSpec
from services.kit.db import Database, UnitOfWork
from services.kit.errors import PermanentFailure
from services.kit.webhooks import sign as bank_signature
from tests.conftest import make_settings, unique
from tests.payment.test_orders_http import ipn, new_order
from tests.support.events import numbered
from tests.support.kafka import create_topics
from tests.support.metrics import api_metrics_url, running_worker, sample, samples, scrape, wait_metrics
from tests.support.payment import BANK_SECRETS, TOTAL, VNPAY_SECRET, Payments, payment_settings
from tests.support.payment_protocols import vnpay_ipn
from tests.support.servers import serve
from tests.support.sync import H22, Sync
from tests.support.tokens import ISSUER

pytestmark = pytest.mark.integration


def spec_of(settings, consumers=()) -> ServiceSpec:  # type: ignore[no-untyped-def]
    return ServiceSpec(name=settings.service_name, title="Things", settings_cls=lambda: settings,
                       migrations=Path("."), consumers=list(consumers))  # fmt: skip


async def emit(db: Database, event_type: str, count: int = 1) -> list[str]:
    async with db.transaction() as uow:
        model = numbered(event_type)
        return [(await uow.emit(model(n=n), key=f"k{n}")).id for n in range(count)]


# --- outbox -----------------------------------------------------------------------------------------


async def test_outbox_backlog_and_age_grow_while_the_broker_is_away_and_fall_once_published(kit_db_url, infra) -> None:
    name = unique("obsout")
    db = Database(kit_db_url, source=name, topic=f"{name}.events")
    await create_topics(infra.bootstrap, f"{name}.events")
    await emit(db, f"{name}.thing.made.v1", 3)
    async with db.transaction() as uow:  # written five minutes ago, as if the broker had been away since
        await uow.connection.execute(text("UPDATE kit_outbox SET created_at = now() - interval '300 seconds'"))
    await db.dispose()

    away = make_settings(name, kit_db_url, "127.0.0.1:9", metrics_sample_seconds=0.2, kafka_request_timeout_ms=500)
    async with running_worker(spec_of(away), away, parts=["relay"]) as (_, url):
        grown = await wait_metrics(url, lambda m: (sample(m, "outbox_backlog", service=name) or 0) == 3)
    assert sample(grown, "outbox_backlog", service=name) == 3
    assert sample(grown, "outbox_oldest_unpublished_age_seconds", service=name) >= 300
    assert sample(grown, "outbox_relay_active", service=name) == 1

    back = make_settings(name, kit_db_url, infra.bootstrap, metrics_sample_seconds=0.2)
    async with running_worker(spec_of(back), back, parts=["relay"]) as (_, url):
        drained = await wait_metrics(url, lambda m: sample(m, "outbox_backlog", service=name) == 0)
    assert sample(drained, "outbox_backlog", service=name) == 0
    assert sample(drained, "outbox_oldest_unpublished_age_seconds", service=name) == 0
    assert sample(drained, "outbox_events_published_total", service=name, topic=f"{name}.events") == 3


# --- consumers --------------------------------------------------------------------------------------


async def test_consumer_lag_per_partition_rises_with_a_backlog_and_returns_to_zero(kit_db_url, infra) -> None:
    name = unique("obslag")
    topic, kind = f"{name}.events", f"{name}.thing.made.v1"
    await create_topics(infra.bootstrap, topic, partitions=2)
    applied: list[str] = []

    async def slow(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        applied.append(event.id)

    settings = make_settings(name, kit_db_url, infra.bootstrap, metrics_sample_seconds=0.2,
                             consumer_max_poll_records=1)  # fmt: skip
    spec = spec_of(settings, [ConsumerSpec(name="slow", topics=[topic], handlers={kind: slow})])
    db = Database(kit_db_url, source=name, topic=topic)
    async with running_worker(spec, settings) as (_, url):
        await wait_metrics(url, lambda m: samples(m, "consumer_lag_messages", consumer=f"{name}.slow") != [])
        await emit(db, kind, 60)
        behind = await wait_metrics(
            url, lambda m: sum(v for _, v in samples(m, "consumer_lag_messages", consumer=f"{name}.slow")) >= 10
        )
        caught_up = await wait_metrics(
            url,
            lambda m: len(applied) == 60 and all(v == 0 for _, v in samples(m, "consumer_lag_messages",
                                                                            consumer=f"{name}.slow")),
        )  # fmt: skip
    await db.dispose()
    lags = samples(behind, "consumer_lag_messages", consumer=f"{name}.slow")
    assert sum(v for _, v in lags) >= 10, lags
    assert {labels["topic"] for labels, _ in lags} == {topic}
    assert {labels["partition"] for labels, _ in samples(caught_up, "consumer_lag_messages")
            if labels["consumer"] == f"{name}.slow"} == {"0", "1"}  # fmt: skip
    assert len(applied) == 60
    assert all(v == 0 for _, v in samples(caught_up, "consumer_lag_messages", consumer=f"{name}.slow"))


async def test_dead_letters_are_counted_by_consumer_and_type(kit_db_url, infra) -> None:
    name = unique("obsdlq")
    topic, kind = f"{name}.events", f"{name}.thing.made.v1"
    await create_topics(infra.bootstrap, topic, f"{name}.dlq")

    async def hopeless(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
        raise PermanentFailure("this thing cannot be made")

    settings = make_settings(name, kit_db_url, infra.bootstrap, metrics_sample_seconds=0.2)
    spec = spec_of(settings, [ConsumerSpec(name="maker", topics=[topic], handlers={kind: hopeless})])
    db = Database(kit_db_url, source=name, topic=topic)
    async with running_worker(spec, settings) as (_, url):
        before = sample(await scrape(url), "consumer_dead_letters_total", consumer=f"{name}.maker", event_type=kind)
        await emit(db, kind, 2)
        after = await wait_metrics(
            url, lambda m: sample(m, "consumer_dead_letters_total", consumer=f"{name}.maker", event_type=kind) == 2
        )
    await db.dispose()
    assert before is None
    assert sample(after, "consumer_dead_letters_total", consumer=f"{name}.maker", event_type=kind) == 2
    assert sample(after, "consumer_events_total", consumer=f"{name}.maker", outcome="dead_lettered") == 2


# --- payment callbacks ------------------------------------------------------------------------------


def verification_failures(metrics: str, provider: str, reason: str) -> float:
    return sample(metrics, "payment_callback_verification_failures_total", provider=provider, reason=reason) or 0


async def test_refused_callback_signatures_are_counted_per_provider(payments: Payments) -> None:
    async with payments.client() as api:
        order = await new_order(payments, api)
        before = await scrape(api_metrics_url())
        forged = vnpay_ipn("not-the-secret", txn_ref=order["reference"], amount_vnd=TOTAL)
        assert await ipn(api, forged) == {"RspCode": "97", "Message": "Invalid signature"}
        body = b'{"transaction_id": "T1", "bank_bin": "970436", "account": "1", "amount": 1, ' \
               b'"transferred_at": "2025-12-03T09:30:00+07:00"}'  # fmt: skip
        wrong = await api.post("/callbacks/bank", content=body, headers={
            "X-Signature": bank_signature(body, "not-a-bank-secret", int(time.time())),
            "Content-Type": "application/json"})  # fmt: skip
        unsigned = await api.post("/callbacks/bank", content=body, headers={"Content-Type": "application/json"})
        assert (wrong.status_code, unsigned.status_code) == (401, 401)
        genuine = vnpay_ipn(VNPAY_SECRET, txn_ref=order["reference"], amount_vnd=TOTAL)
        assert await ipn(api, genuine) == {"RspCode": "00", "Message": "Confirm Success"}
    after = await scrape(api_metrics_url())
    for provider, reason in (("vnpay", "signature"), ("bank", "mismatch"), ("bank", "malformed")):
        moved = verification_failures(after, provider, reason) - verification_failures(before, provider, reason)
        assert moved == 1, (provider, reason)


async def test_during_a_vnpay_secret_rotation_the_previous_secret_still_verifies(
    payment_db_url, infra, dossier_keys
) -> None:
    keys, jwks_url = dossier_keys
    rotating = {"vnpay_hash_secret": "vnpay-secret-2027", "vnpay_previous_hash_secrets": [VNPAY_SECRET]}
    settings = payment_settings(payment_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url, **rotating)
    from services.payment.app import create_app

    with serve(create_app(settings)) as url:
        p = Payments(url, payment_db_url, keys.published[0], settings)
        async with p.client() as api:
            old, new = await new_order(p, api), await new_order(p, api)
            before = await scrape(api_metrics_url())
            signed_before = vnpay_ipn(VNPAY_SECRET, txn_ref=old["reference"], amount_vnd=TOTAL)
            signed_after = vnpay_ipn("vnpay-secret-2027", txn_ref=new["reference"], amount_vnd=TOTAL)
            assert await ipn(api, signed_before) == {"RspCode": "00", "Message": "Confirm Success"}
            assert await ipn(api, signed_after) == {"RspCode": "00", "Message": "Confirm Success"}
            forged = vnpay_ipn("neither-secret", txn_ref=old["reference"], amount_vnd=TOTAL)
            assert await ipn(api, forged) == {"RspCode": "97", "Message": "Invalid signature"}
            after = await scrape(api_metrics_url())
    assert verification_failures(after, "vnpay", "signature") - verification_failures(before, "vnpay", "signature") == 1
    assert BANK_SECRETS  # the bank's secrets rotate the same way: a list, every one of which verifies


# --- sync -------------------------------------------------------------------------------------------


async def test_refused_status_records_are_counted_per_agency(sync_api: Sync) -> None:
    def rejected(metrics: str, agency: str) -> float:
        return sample(metrics, "sync_records_rejected_total", agency=agency) or 0

    # Each refused for its own reason: a dossier the portal does not have, a status the table does not
    # know, a time that is not one.
    record = {"dossier_code": "000.00.01.H22-251203-0001", "agency_code": H22, "status": 4,
              "occurred_at": "2025-12-03T14:00:00+07:00"}  # fmt: skip
    async with sync_api.client() as api:
        before = await scrape(api_metrics_url())
        pushed = await api.post("/records", headers=sync_api.province(H22), json={"records": [
            record, {**record, "status": 99}, {**record, "occurred_at": "not a time"}]})  # fmt: skip
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["summary"]["rejected"] == 3
        both = sync_api.province(H22, "000.00.01.H26", client="two-agencies")
        foreign = await api.post(
            "/records", headers=both, json={"records": [{**record, "agency_code": "000.00.09.X99"}]}
        )
        assert foreign.json()["summary"]["rejected"] == 1
    after = await scrape(api_metrics_url())
    assert rejected(after, H22) - rejected(before, H22) == 3
    assert rejected(after, "unattributed") - rejected(before, "unattributed") == 1
    assert not [
        labels for labels, _ in samples(after, "sync_records_rejected_total") if labels["agency"] == "000.00.09.X99"
    ]
