"""Notifications end to end: events on the broker become messages handed to the sandbox
providers. Its own PostgreSQL and broker; identity (contact details, ``--notify-accounts``
accounts generated in SQL, each with a verified phone and e-mail); the notification API (SMS
receipts) and worker (consumer, dispatcher, relay); the sandbox mailbox (SMTP with STARTTLS and
AUTH) and SMS providers as processes, all on loopback.

Phases, each bounded in events and time:

1. **Steady**: ``DossierSubmitted`` events produced at ``--notify-rate`` a second (default 200) for
   ``--notify-seconds``; each is a receipt to one person by SMS and e-mail. Measured: from the
   event's production to its provider taking each message (``handed_at``), p50/p95/p99. Target:
   p99 ≤ 2 s. Baseline in the same run: the broker alone, the same events produced at the same
   rate and read by a bare consumer (the transport's floor).
2. **Burst**: ``--notify-burst`` events at once; measured: messages handed over per second,
   from the first to the last, per channel. Target: ≥ 1,000 messages/s. Baseline in the same run:
   the same adapters sending straight to the same sandboxes with no service around them (the
   providers' ceiling on this machine).

Counts reconcile: notices = events, messages = 2 × events, each handed once, and the sandboxes
received as many (none lost, none doubled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from contracts.envelope import CloudEvent
from contracts.events.dossier import Applicant, DossierSubmitted
from deploy.local.components import EmbeddedKafka, EmbeddedPostgres, free_port, stop_process
from deploy.local.stack import prepare_databases, prepare_topics
from services.notification.adapters.email import SmtpConfig, SmtpProvider
from services.notification.adapters.sms import HttpSmsConfig, HttpSmsProvider
from services.notification.domain.delivery import Email, Sms

from . import report
from .run import cpu_seconds, start_server

TARGET_P99_S = 2.0
TARGET_RATE = 1000.0
CLIENT = ("notification-service", "bench-notification-client-secret")
SMS_KEYS = {x: (f"bench-sms-{x}-key", f"bench-sms-{x}-secret") for x in ("a", "b")}
MAILBOX = ("portal", "bench-mailbox-password")

ACCOUNTS = """
INSERT INTO accounts (id, kind, status, name, personal_id, phone, phone_verified, email, email_verified,
                      password_hash)
SELECT 'citizen-' || (g - 1), 'citizen', 'active', 'Công dân ' || g, lpad((900000000000 + g)::text, 12, '0'),
       '+8491' || lpad(g::text, 7, '0'), true, 'citizen' || g || '@example.vn', true, 'unusable'
FROM generate_series(1, $1::int) g
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notify-rate", type=float, default=200, help="events a second in the steady phase")
    parser.add_argument("--notify-seconds", type=float, default=30, help="seconds of the steady phase")
    parser.add_argument("--notify-burst", type=int, default=3000, help="events produced at once in the burst phase")
    parser.add_argument("--notify-accounts", type=int, default=10_000, help="accounts the events are about")
    parser.add_argument("--notify-deadline", type=float, default=300, help="seconds to wait for every message")
    parser.add_argument("--notify-workers", type=int, default=2,
                        help="notification worker processes (replicas: each consumes and dispatches)")  # fmt: skip


def event(i: int, accounts: int) -> CloudEvent:
    """A filing by account ``citizen-<i mod accounts>``, made now."""
    dossier = str(uuid.uuid4())
    data = DossierSubmitted(
        dossier_id=dossier, code=f"H22.01-261207-{i:06d}", service_id=str(uuid.uuid4()), service_version=1,
        procedure_code="1.001234", procedure_name="Cấp đổi giấy phép lái xe", agency_code="000.00.01.H22",
        routing_target="motcua:000.00.01.H22", owner=f"citizen-{i % accounts}",
        applicant=Applicant(kind="citizen", identifier="001099012345", name="Nguyễn Văn An"), form={},
        attachments=[], fees=[], received_at=datetime.now(UTC), appointment_date=datetime.now(UTC).date(),
    ).model_dump(mode="json")  # fmt: skip
    return CloudEvent(source="dossier", type=DossierSubmitted.TYPE, subject=dossier, data=data)


async def produce(bootstrap: str, topic: str, events: list[CloudEvent], rate: float | None) -> dict[str, float]:
    """Send ``events`` (at ``rate`` a second, or at once); each one's production time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        started = time.time()
        for n, item in enumerate(events):
            if rate:
                await asyncio.sleep(max(0.0, started + n / rate - time.time()))
            sent[item.id] = time.time()
            await producer.send(topic, value=item.kafka_value(), key=item.subject.encode() if item.subject else None,
                                headers=item.kafka_headers())  # fmt: skip
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def broker_baseline(bootstrap: str, events: list[CloudEvent], rate: float, deadline: float) -> list[float]:
    """Seconds from production to a bare consumer's read, for each event (the transport's floor)."""
    topic = "bench.baseline"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="bench-baseline",
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        await asyncio.sleep(1.0)  # the group joined
        producing = asyncio.create_task(produce(bootstrap, topic, events, rate))
        stop_at = time.time() + deadline
        while len(seen) < len(events) and time.time() < stop_at:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    got = CloudEvent.from_kafka(record.headers, record.value)
                    seen.setdefault(got.id, time.time())
        sent = await producing
    finally:
        await consumer.stop()
    return [seen[i] - sent[i] for i in sent if i in seen]


async def provider_baseline(smtp: SmtpConfig, sms: HttpSmsConfig, count: int) -> dict[str, float]:
    """Messages a second the same adapters hand to the same sandboxes, no service around them:
    the SMS in bulk requests as the dispatcher sends them, the e-mails 50 at once."""
    rates: dict[str, float] = {}
    email, text = SmtpProvider(smtp), HttpSmsProvider(sms)
    gate = asyncio.Semaphore(50)
    try:
        started = time.perf_counter()
        texts = [Sms(str(uuid.uuid4()), f"+8491{i % 10_000 + 1:07d}", f"DVCQG: ho so {i}") for i in range(count)]
        for n in range(0, count, 200):  # as the dispatcher claims them
            await text.send_many(texts[n : n + 200])
        rates["sms"] = count / (time.perf_counter() - started)

        async def one(i: int) -> None:
            async with gate:
                await email.send(Email(str(uuid.uuid4()), f"citizen{i}@example.vn", f"Hồ sơ {i}",
                                       f"Hồ sơ {i} đã được tiếp nhận."))  # fmt: skip

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        rates["email"] = count / (time.perf_counter() - started)
    finally:
        await email.aclose()
        await text.aclose()
    return rates


async def group_settled(bootstrap: str, group: str, members: int, deadline: float = 60) -> None:
    """Wait until ``group`` has its ``members`` and is stable (no rebalance left to come)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        stop_at = time.time() + deadline
        while time.time() < stop_at:
            [described] = await admin.describe_consumer_groups([group])
            [(_, _, state, _, _, joined, *_)] = described.groups
            if state == "Stable" and len(joined) == members:
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"consumer group {group} did not settle with {members} members")
    finally:
        await admin.close()


async def wait_handed(url: str, expected: int, deadline: float) -> int:
    conn = await asyncpg.connect(url)
    try:
        stop_at = time.time() + deadline
        while True:
            handed = int(await conn.fetchval("SELECT count(*) FROM messages WHERE handed_at IS NOT NULL"))
            if handed >= expected or time.time() > stop_at:
                return handed
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def handed(url: str, since: float) -> list[tuple[str, str, float]]:
    """(event id, channel, handed at) of each message handed since ``since`` (unix seconds)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT n.event_id, m.channel, extract(epoch FROM m.handed_at) AS at FROM messages m "
            "JOIN notices n ON n.id = m.notice_id WHERE m.handed_at >= to_timestamp($1)", since
        )  # fmt: skip
        return [(r["event_id"], r["channel"], float(r["at"])) for r in rows]
    finally:
        await conn.close()


async def reconcile(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        return {
            "notices": await conn.fetchval("SELECT count(*) FROM notices"),
            "messages": await conn.fetchval("SELECT count(*) FROM messages"),
            "handed": await conn.fetchval("SELECT count(*) FROM messages WHERE handed_at IS NOT NULL"),
            "statuses": dict(await conn.fetch("SELECT status, count(*) FROM messages GROUP BY status")),
            "doubled": await conn.fetchval(
                "SELECT count(*) FROM (SELECT notice_id, channel FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d"
            ),
        }
    finally:
        await conn.close()


async def generate(identity_url: str, accounts: int) -> None:
    from services.identity.adapters.unit_of_work import transaction
    from services.identity.domain.oauth import ClientKind
    from services.identity.service.clients import create_client
    from services.kit.db import Database

    conn = await asyncpg.connect(identity_url.replace("+asyncpg", ""))
    try:
        await conn.execute(ACCOUNTS, accounts)
        await conn.execute("ANALYZE accounts")
    finally:
        await conn.close()
    db = Database(identity_url, source="identity", topic="identity.events")
    try:
        async with transaction(db) as uow:
            await create_client(uow, client_id=CLIENT[0], name="Notification service", kind=ClientKind.CONFIDENTIAL,
                                grant_types=["client_credentials"], allowed_scopes=["identity:contacts"],
                                secret=CLIENT[1])  # fmt: skip
    finally:
        await db.dispose()


def percentiles(values: list[float]) -> str:
    return (f"p50 {report.percentile(values, 50):.2f} s, p95 {report.percentile(values, 95):.2f} s, "
            f"p99 {report.percentile(values, 99):.2f} s")  # fmt: skip


def run_notification(options: argparse.Namespace) -> report.Report:
    workdir = options.out / "notification"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    postgres = EmbeddedPostgres(workdir / "postgres", free_port(), fast=True)
    kafka = EmbeddedKafka(free_port(), log_path=workdir / "kafka.log")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    result = report.Report("Notifications: events to messages handed to the providers", {})
    started_run = time.monotonic()
    try:
        postgres.start()
        kafka.start()
        urls = asyncio.run(prepare_databases(postgres.url(), prefix="bench", services=("identity", "notification")))
        asyncio.run(prepare_topics(kafka.bootstrap, partitions=6))
        print(f"generating {options.notify_accounts:,} accounts ...", flush=True)
        asyncio.run(generate(urls["identity"], options.notify_accounts))
        ports = {name: free_port() for name in ("identity", "api", "smtp", "mailbox", "messaging")}
        identity = f"http://127.0.0.1:{ports['identity']}"
        api = f"http://127.0.0.1:{ports['api']}"
        messaging = f"http://127.0.0.1:{ports['messaging']}"
        certificate = workdir / "mailbox.pem"
        smtp = {"name": "mailbox", "host": "127.0.0.1", "port": ports["smtp"], "sender": "no-reply@portal.bench",
                "username": MAILBOX[0], "password": MAILBOX[1], "ca_file": str(certificate)}  # fmt: skip
        sms = [{"name": f"sandbox-{x}", "base_url": f"{messaging}/{x}", "api_key": SMS_KEYS[x][0],
                "signing_secret": SMS_KEYS[x][1]} for x in ("a", "b")]  # fmt: skip
        env = {
            "PORTAL_ENVIRONMENT": "development", "PORTAL_LOG_LEVEL": "WARNING",
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "PORTAL_OIDC_ISSUER": identity,
            "PORTAL_OIDC_JWKS_URL": f"{identity}/oauth2/jwks", "IDENTITY_DATABASE_URL": urls["identity"],
            "IDENTITY_PORT": str(ports["identity"]), "NOTIFICATION_DATABASE_URL": urls["notification"],
            "NOTIFICATION_PORT": str(ports["api"]), "NOTIFICATION_IDENTITY_URL": identity,
            "NOTIFICATION_CONTACTS_CLIENT_SECRET": CLIENT[1], "NOTIFICATION_EMAIL_PROVIDERS": json.dumps([smtp]),
            "NOTIFICATION_SMS_PROVIDERS": json.dumps(sms), "NOTIFICATION_PUSH_PROVIDERS": "[]",
            "NOTIFICATION_SMS_PER_RECIPIENT_PER_HOUR": "1000",
            # No quiet hours: a run in the Vietnamese night would otherwise hold every receipt's SMS.
            "NOTIFICATION_QUIET_START": "00:00", "NOTIFICATION_QUIET_END": "00:00",
            "SANDBOX_MAILBOX_SMTP_PORT": str(ports["smtp"]), "SANDBOX_MAILBOX_HTTP_PORT": str(ports["mailbox"]),
            "SANDBOX_MAILBOX_USERNAME": MAILBOX[0], "SANDBOX_MAILBOX_PASSWORD": MAILBOX[1],
            "SANDBOX_MAILBOX_CERTIFICATE_FILE": str(certificate), "SANDBOX_MAILBOX_KEEP": "100000",
            "SANDBOX_MESSAGING_PORT": str(ports["messaging"]), "SANDBOX_MESSAGING_MAX_KEPT": "100000",
            "SANDBOX_MESSAGING_A_API_KEY": SMS_KEYS["a"][0], "SANDBOX_MESSAGING_A_SECRET": SMS_KEYS["a"][1],
            "SANDBOX_MESSAGING_B_API_KEY": SMS_KEYS["b"][0], "SANDBOX_MESSAGING_B_SECRET": SMS_KEYS["b"][1],
            "SANDBOX_MESSAGING_RECEIPT_URL": f"{api}/api/v1/notification/receipts/sms/sandbox-{{provider}}",
            "SANDBOX_MESSAGING_DELIVERY_DELAY_SECONDS": "0.5",
        }  # fmt: skip
        log = workdir / "processes.log"
        procs["mailbox"] = start_server(["-m", "deploy.sandbox.mailbox"], env, ports["mailbox"], log)
        procs["sms sandbox"] = start_server(["-m", "deploy.sandbox.messaging"], env, ports["messaging"], log)
        procs["identity api"] = start_server(["-m", "services.identity", "api"], env, ports["identity"], log)
        procs["notification api"] = start_server(["-m", "services.notification", "api"], env, ports["api"], log)
        for n in range(options.notify_workers):
            procs[f"notification worker {n + 1}"] = start_server(["-m", "services.notification", "worker"], env, None,
                                                                 log)  # fmt: skip
        asyncio.run(group_settled(kafka.bootstrap, "notification.events", options.notify_workers))

        print("baseline: the broker alone at the same rate ...", flush=True)
        steady = [event(i, options.notify_accounts) for i in range(int(options.notify_rate * options.notify_seconds))]
        floor = asyncio.run(broker_baseline(kafka.bootstrap, [event(i, 1) for i in range(len(steady))],
                                            options.notify_rate, options.notify_deadline))  # fmt: skip

        print(f"steady: {len(steady)} events at {options.notify_rate:.0f}/s ...", flush=True)
        cpu_before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        db_before = cpu_seconds(postgres.proc.pid) if postgres.proc else 0.0
        since = time.time()
        sent = asyncio.run(produce(kafka.bootstrap, "dossier.events", steady, options.notify_rate))
        count = asyncio.run(wait_handed(urls["notification"].replace("+asyncpg", ""), 2 * len(steady),
                                        options.notify_deadline))  # fmt: skip
        cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in procs.items()}
        db_cpu = (cpu_seconds(postgres.proc.pid) if postgres.proc else 0.0) - db_before
        rows = asyncio.run(handed(urls["notification"].replace("+asyncpg", ""), since - 1))
        latency = {ch: [at - sent[e] for e, c, at in rows if c == ch and e in sent] for ch in ("sms", "email")}
        every = latency["sms"] + latency["email"]

        print(f"burst: {options.notify_burst} events at once ...", flush=True)
        burst = [event(len(steady) + i, options.notify_accounts) for i in range(options.notify_burst)]
        others = {"PostgreSQL": postgres.proc, "broker": kafka.proc}
        cpu_before = {name: cpu_seconds(p.pid) for name, p in {**procs, **others}.items() if p is not None}
        since, wall, own = time.time(), time.monotonic(), time.process_time()
        asyncio.run(produce(kafka.bootstrap, "dossier.events", burst, None))
        total = 2 * (len(steady) + len(burst))
        final = asyncio.run(wait_handed(urls["notification"].replace("+asyncpg", ""), total, options.notify_deadline))
        wall = time.monotonic() - wall
        burst_cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in {**procs, **others}.items()
                     if p is not None}  # fmt: skip
        burst_cpu["bench (producer)"] = time.process_time() - own
        rows = asyncio.run(handed(urls["notification"].replace("+asyncpg", ""), since - 1))
        burst_ids = {b.id for b in burst}
        times = sorted(at for e, _, at in rows if e in burst_ids)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        per_channel = {}
        for ch in ("sms", "email"):
            at = sorted(a for e, c, a in rows if e in burst_ids and c == ch)
            per_channel[ch] = (len(at) - 1) / (at[-1] - at[0]) if len(at) > 1 else 0.0
        counts = asyncio.run(reconcile(urls["notification"].replace("+asyncpg", "")))
        with httpx.Client(timeout=30) as client:
            at_sms = len(client.get(f"{messaging}/api/sms", params={"limit": 100_000}).json()["messages"])
            mailbox = client.get(f"http://127.0.0.1:{ports['mailbox']}/api/stats").json()

        print("baseline: the same adapters straight to the sandboxes ...", flush=True)
        ceiling = asyncio.run(provider_baseline(
            SmtpConfig(name="mailbox", host="127.0.0.1", port=ports["smtp"], sender="no-reply@portal.bench",
                       username=MAILBOX[0], password=MAILBOX[1], ca_file=str(certificate)),
            HttpSmsConfig(name="sandbox-a", base_url=f"{messaging}/a", api_key=SMS_KEYS["a"][0],
                          signing_secret=SMS_KEYS["a"][1], brand_name="DVCQG"),
            options.notify_burst,
        ))  # fmt: skip
    finally:
        for proc in procs.values():
            stop_process(proc)
        kafka.stop()
        postgres.destroy()

    p99 = report.percentile(every, 99) if every else float("inf")
    # One SMS and one e-mail a notice: the ceiling of the pair, sent one after the other.
    mix = 2 / (1 / ceiling["sms"] + 1 / ceiling["email"])
    result.setup.update({
        "path": "broker (dossier.events) → notification worker (consumer: notice, inbox item, messages) → "
                "dispatcher (contacts from identity, SMS to the sandbox providers, e-mail over SMTP with STARTTLS "
                "and AUTH to the sandbox mailbox) → SMS receipts signed back to the notification API",
        "machine": "2 CPUs shared by every process; PostgreSQL and the broker embedded; all on loopback",
        "workers": f"{options.notify_workers} notification worker processes (each consumes some partitions and "
                   "dispatches; their claims take turns)",
        "steady": f"{len(steady)} events at {options.notify_rate:.0f}/s ({2 * len(steady)} messages); "
                  f"handed {count}; event → handed: {percentiles(every)} (SMS {percentiles(latency['sms'])}; "
                  f"e-mail {percentiles(latency['email'])})",
        "steady target": f"p99 {p99:.2f} s {'≤' if p99 <= TARGET_P99_S else '>'} {TARGET_P99_S:g} s "
                         f"{'✔' if p99 <= TARGET_P99_S else '✘'}",
        "steady baseline": f"the broker alone, produce → read: {percentiles(floor)}",
        "burst": f"{len(burst)} events at once ({2 * len(burst)} messages): {rate:.0f} messages/s handed "
                 f"(SMS {per_channel['sms']:.0f}/s, e-mail {per_channel['email']:.0f}/s)",
        "burst target": f"{rate:.0f} {'≥' if rate >= TARGET_RATE else '<'} {TARGET_RATE:.0f} messages/s "
                        f"{'✔' if rate >= TARGET_RATE else '✘'}",
        "burst baseline": f"the same adapters straight to the sandboxes (SMS in bulk requests, e-mail 50 at once): "
                          f"SMS {ceiling['sms']:.0f}/s, "
                          f"e-mail {ceiling['email']:.0f}/s, so {mix:.0f}/s for one of each (ratio {rate / mix:.2f})",
        "reconciled": f"events {len(steady) + len(burst)}, notices {counts['notices']}, messages {counts['messages']}, "
                      f"handed {final} (statuses {counts['statuses']}), doubled {counts['doubled']}; the SMS sandbox "
                      f"holds {at_sms}, the mailbox received {mailbox.get('received')} "
                      f"(each includes the baseline's {options.notify_burst} straight sends)",
        "CPU per message in the steady phase (ms)": ", ".join(
            f"{name} {1000 * c / max(1, count):.2f}" for name, c in cpu.items()
        ) + f", PostgreSQL {1000 * db_cpu / max(1, count):.2f}",
        "CPU per message in the burst (ms)": ", ".join(
            f"{name} {1000 * c / max(1, 2 * len(burst)):.2f}" for name, c in burst_cpu.items()
        ) + f"; in all {1000 * sum(burst_cpu.values()) / max(1, 2 * len(burst)):.2f} ms a message, the cores "
            f"{100 * sum(burst_cpu.values()) / (2 * wall):.0f} % busy over {wall:.1f} s",
        "total run": f"{time.monotonic() - started_run:.0f} s",
    })  # fmt: skip
    return result
