"""What the databases say after a fault: every acknowledged write there exactly once, every event
applied exactly once in effect, and the services' figures agreeing with one another.

Read straight from PostgreSQL (not through the fault proxies), one snapshot of each service's
database at a time:

- the ledger's writes: each acknowledged dossier (found by the reference its form carries: a
  reference in two dossiers is a duplicate), order (a second order of one dossier is a
  duplicate), payment (the order succeeded, once: one transition, one receipt) and status record
  (accepted by sync once, on the dossier's timeline once);
- the events: every event in a producer's outbox has been claimed in the inbox of every consumer
  group that handles its type (the consumers' specs say which), no outbox row is left
  unpublished, nothing was dead-lettered;
- the figures: dossiers filed = statistics' dossiers received online (facts and daily counters) =
  the sync service's deliveries = the payment service's assessments; orders paid = dossiers whose
  fees are paid = payment rows on the timelines = statistics' paid online; status records sync
  accepted = agency rows on the timelines; no update was refused.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from services.kit.consumer import DEAD_LETTER_TYPE

from .load import Ledger
from .portal import SERVICES, ChaosPortal


def consumer_interests() -> dict[str, tuple[set[str], set[str]]]:
    """Consumer group -> (topics, event types it handles), for the services that run here."""
    interests = {}
    for name in SERVICES:
        spec = importlib.import_module(f"services.{name}.app").SERVICE
        settings = spec.settings_cls()
        for consumer in spec.consumers:
            types = set(consumer.handlers_for(settings)) | set(consumer.batch_handlers_for(settings))
            interests[f"{name}.{consumer.name}"] = (set(consumer.topics), types)
    return interests


@dataclass
class Snapshot:
    dossiers: dict[str, list[str]] = field(default_factory=dict)  # form reference -> dossier ids
    paid_dossiers: set[str] = field(default_factory=set)
    history: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, record id) -> rows
    refused: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> row
    succeeded_transitions: Counter[str] = field(default_factory=Counter)
    receipts: Counter[str] = field(default_factory=Counter)
    assessments: int = 0
    accepted_records: Counter[str] = field(default_factory=Counter)
    deliveries: int = 0
    outbox: dict[str, list[tuple[str, str, str, bool]]] = field(default_factory=dict)  # (id, topic, type, pending)
    inbox: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


async def snapshot(portal: ChaosPortal) -> Snapshot:
    snap = Snapshot()
    for name in SERVICES:
        conn = await asyncpg.connect(portal.db_urls[name], timeout=10)
        try:
            await _read(name, conn, snap)
            rows = await conn.fetch("SELECT event_id, topic, type, published_at IS NULL AS pending FROM kit_outbox")
            snap.outbox[name] = [(r["event_id"], r["topic"], r["type"], r["pending"]) for r in rows]
            for r in await conn.fetch("SELECT consumer, event_id FROM kit_inbox"):
                snap.inbox[r["consumer"]].add(r["event_id"])
        finally:
            await conn.close()
    return snap


async def _read(name: str, conn: asyncpg.Connection, snap: Snapshot) -> None:
    if name == "dossier":
        rows = await conn.fetch("SELECT form->>'tham_chieu' AS ref, id::text AS id, fees_paid_at IS NOT NULL AS paid "
                                "FROM dossiers WHERE origin = 'portal'")  # fmt: skip
        for r in rows:
            snap.dossiers.setdefault(r["ref"], []).append(r["id"])
            if r["paid"]:
                snap.paid_dossiers.add(r["id"])
        for r in await conn.fetch("SELECT source, coalesce(record_id, '') AS record_id FROM dossier_history "
                                  "WHERE source IN ('agency', 'payment')"):  # fmt: skip
            snap.history[(r["source"], r["record_id"])] += 1
        snap.refused = {r["reason"]: r["n"] for r in await conn.fetch(
            "SELECT reason, count(*) AS n FROM dossier_refused_updates GROUP BY reason")}  # fmt: skip
        facts = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE origin = 'portal' AND received_at IS NOT NULL) AS received, "
            "count(*) FILTER (WHERE paid_at IS NOT NULL) AS paid FROM stats_dossiers"
        )
        daily = {r["metric"]: int(r["total"]) for r in await conn.fetch(
            "SELECT metric, sum(value) AS total FROM stats_daily GROUP BY metric")}  # fmt: skip
        snap.stats = {"facts_received": facts["received"], "facts_paid": facts["paid"],
                      "daily_received_online": daily.get("received_online", 0),
                      "daily_paid_online": daily.get("paid_online", 0)}  # fmt: skip
    elif name == "payment":
        for r in await conn.fetch("SELECT id::text AS id, dossier_id::text AS dossier_id, state FROM orders"):
            snap.orders[r["id"]] = dict(r)
        for r in await conn.fetch("SELECT order_id::text AS id FROM order_transitions WHERE state = 'succeeded'"):
            snap.succeeded_transitions[r["id"]] += 1
        for r in await conn.fetch("SELECT order_id::text AS id FROM receipts"):
            snap.receipts[r["id"]] += 1
        snap.assessments = int(await conn.fetchval("SELECT count(*) FROM assessments"))
    elif name == "sync":
        for r in await conn.fetch("SELECT record_id FROM accepted_records"):
            snap.accepted_records[r["record_id"]] += 1
        snap.deliveries = int(await conn.fetchval("SELECT count(*) FROM deliveries"))


@dataclass
class WriteCheck:
    acknowledged: int = 0
    found: int = 0
    lost: int = 0
    duplicated: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, found: bool, duplicated: bool, what: str) -> None:
        self.acknowledged += 1
        self.found += found
        self.lost += not found
        self.duplicated += duplicated
        if (not found or duplicated) and len(self.examples) < 10:
            self.examples.append(f"{what}: {'lost' if not found else 'duplicated'}")


def check_writes(ledger: Ledger, snap: Snapshot) -> dict[str, WriteCheck]:
    checks = {kind: WriteCheck() for kind in ("submissions", "orders", "payments", "status_records")}
    for ref, made in ledger.submissions.items():
        ids = snap.dossiers.get(ref, [])
        checks["submissions"].add(made.dossier_id in ids, len(ids) > 1, f"dossier {made.dossier_id}")
    orders_of = Counter(row["dossier_id"] for row in snap.orders.values())
    for dossier_id, order in ledger.orders.items():
        checks["orders"].add(order.order_id in snap.orders, orders_of[dossier_id] > 1, f"order {order.order_id}")
    for payment in ledger.payments.values():
        row = snap.orders.get(payment.order_id)
        twice = snap.succeeded_transitions[payment.order_id] > 1 or snap.receipts[payment.order_id] > 1
        checks["payments"].add(row is not None and row["state"] == "succeeded", twice, f"payment {payment.reference}")
    for record_id in ledger.records:
        found = snap.accepted_records[record_id] >= 1
        twice = snap.accepted_records[record_id] > 1 or snap.history[("agency", record_id)] > 1
        checks["status_records"].add(found, twice, f"record {record_id}")
    return checks


def total(checks: dict[str, WriteCheck]) -> WriteCheck:
    out = WriteCheck()
    for check in checks.values():
        out.acknowledged += check.acknowledged
        out.found += check.found
        out.lost += check.lost
        out.duplicated += check.duplicated
        out.examples += check.examples[: max(0, 10 - len(out.examples))]
    return out


def reconcile(snap: Snapshot, interests: dict[str, tuple[set[str], set[str]]]) -> tuple[dict[str, Any], list[str]]:
    """The services' figures and every way in which they disagree (nothing: reconciled)."""
    problems: list[str] = []
    figures: dict[str, Any] = {}
    # Events: published, not dead-lettered, claimed by every consumer that wants them.
    backlog = {name: sum(1 for row in rows if row[3]) for name, rows in snap.outbox.items()}
    figures["outbox_backlog"] = backlog
    figures["dead_letters"] = sum(1 for rows in snap.outbox.values() for row in rows if row[2] == DEAD_LETTER_TYPE)
    if any(backlog.values()):
        problems.append(f"outbox rows not yet published: {backlog}")
    if figures["dead_letters"]:
        problems.append(f"{figures['dead_letters']} events dead-lettered")
    missing: dict[str, int] = {}
    expected: dict[str, int] = {}
    for group, (topics, types) in interests.items():
        claimed = snap.inbox.get(group, set())
        wanted = [row[0] for rows in snap.outbox.values() for row in rows if row[1] in topics and row[2] in types]
        expected[group] = len(wanted)
        missing[group] = sum(1 for event_id in wanted if event_id not in claimed)
    figures["events_expected_by_consumer"] = expected
    figures["events_not_applied_by_consumer"] = missing
    if any(missing.values()):
        problems.append(f"events not (yet) applied: {missing}")
    # Figures that must agree across services.
    dossiers = sum(len(ids) for ids in snap.dossiers.values())
    succeeded = sum(1 for row in snap.orders.values() if row["state"] == "succeeded")
    ours = {r for r in snap.accepted_records if r.startswith("chaos-")}
    on_timelines = sum(n for (source, record), n in snap.history.items() if source == "agency" and record in ours)
    payment_rows = sum(n for (source, _), n in snap.history.items() if source == "payment")
    figures |= {
        "dossiers_filed": dossiers, "statistics_received": snap.stats.get("facts_received"),
        "statistics_daily_received_online": snap.stats.get("daily_received_online"),
        "sync_deliveries": snap.deliveries, "payment_assessments": snap.assessments,
        "orders_succeeded": succeeded, "dossiers_paid": len(snap.paid_dossiers),
        "payment_rows_on_timelines": payment_rows, "statistics_paid": snap.stats.get("facts_paid"),
        "statistics_daily_paid_online": snap.stats.get("daily_paid_online"),
        "status_records_accepted": len(ours), "status_rows_on_timelines": on_timelines,
        "updates_refused": snap.refused,
    }  # fmt: skip
    for name in ("statistics_received", "statistics_daily_received_online", "sync_deliveries",
                 "payment_assessments"):  # fmt: skip
        if figures[name] != dossiers:
            problems.append(f"dossiers filed {dossiers} != {name} {figures[name]}")
    for name in ("dossiers_paid", "payment_rows_on_timelines", "statistics_paid", "statistics_daily_paid_online"):
        if figures[name] != succeeded:
            problems.append(f"orders succeeded {succeeded} != {name} {figures[name]}")
    if on_timelines != len(ours):
        problems.append(f"status records accepted {len(ours)} != status rows on timelines {on_timelines}")
    if snap.refused:
        problems.append(f"updates refused: {snap.refused}")
    return figures, problems


@dataclass
class Audit:
    reconciled: bool
    seconds_to_reconcile: float | None
    figures: dict[str, Any]
    problems: list[str]
    writes: dict[str, dict[str, Any]]
    writes_total: dict[str, Any]
    earlier_writes_total: dict[str, Any]


async def settle(portal: ChaosPortal, ledger: Ledger, earlier: list[Ledger], *, since: float,
                 deadline_seconds: float) -> Audit:  # fmt: skip
    """Snapshot until the figures reconcile (or the deadline passes); the last snapshot's audit.
    ``since`` (monotonic) is when the fault ended: the time to reconcile is counted from it."""
    interests = consumer_interests()
    deadline = time.monotonic() + deadline_seconds
    while True:
        snap = await snapshot(portal)
        figures, problems = reconcile(snap, interests)
        checks = check_writes(ledger, snap)
        if not problems or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    reconciled_in = round(time.monotonic() - since, 1) if not problems else None
    before = [check_writes(old, snap) for old in earlier]
    return Audit(
        reconciled=not problems, seconds_to_reconcile=reconciled_in, figures=figures, problems=problems,
        writes={kind: asdict(check) for kind, check in checks.items()}, writes_total=asdict(total(checks)),
        earlier_writes_total=asdict(total({str(i): total(c) for i, c in enumerate(before)})),
    )  # fmt: skip
