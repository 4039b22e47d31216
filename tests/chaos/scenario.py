"""The faults, one at a time under load, each followed by the audit; and the soak.

A fault's run: the load starts; after ``warm`` seconds the fault strikes and lasts ``hold``
seconds (or what it takes); the load goes on ``after`` seconds more, then stops (running flows
finish, each within its deadline); then the databases are read until every figure reconciles.
Recovery is timed from the moment the fault ended: to the first successful request sent after
it (the prober reads from each service four times a second) and to reconciled figures.

The bounds this suite holds the portal to (``Plan``): a service answers again within
``first_success_bound`` seconds of a fault's end (10 s; ``LOST_ANSWERS_BOUND``, 30 s, where
PostgreSQL's answers were lost), and every figure reconciles within ``reconcile_bound`` seconds
of it (60 s; the load's remaining ``after`` seconds and the drain of the flows then running
included). No API may log a 500 meanwhile, answered or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from services.kit.db import command_timeout_seconds
from services.kit.settings import ServiceSettings

from .audit import Audit, settle
from .load import Ledger, Load
from .portal import SERVICES, ChaosPortal


@dataclass(frozen=True)
class Plan:
    rate: float  # flows started a second
    warm: float  # seconds of load before the fault
    hold: float  # seconds the fault lasts (where it lasts)
    after: float  # seconds of load after the fault ended
    settle: float  # seconds allowed to reconcile after the load stopped
    toxic: float = 1.5  # seconds each network toxic lasts
    stall: float = 6.5  # seconds a link passes nothing: longer than the gateway waits for a service (5 s)
    first_success_bound: float = 10.0
    reconcile_bound: float = 60.0


SHORT = Plan(rate=5.0, warm=3.0, hold=4.0, after=4.0, settle=60.0)
FULL = Plan(rate=10.0, warm=10.0, hold=15.0, after=15.0, settle=120.0, toxic=5.0, stall=12.0)


@dataclass
class Fault:
    name: str
    description: str
    inject: Callable[[ChaosPortal, Plan], Awaitable[dict[str, Any]]]
    services: tuple[str, ...] = SERVICES  # whose recovery is timed
    first_success_bound: float | None = None  # instead of the plan's


# A service whose answers from PostgreSQL were lost gives up on them after the client-side command
# timeout (the statement timeout, 15 s by default, plus 5 s; ``services.kit.db``): until then the
# connections they hold are busy. It answers again within that, and a few seconds more.
LOST_ANSWERS_BOUND = command_timeout_seconds(ServiceSettings().database_statement_timeout_ms) + 10.0


async def _broker_wiped(portal: ChaosPortal, plan: Plan) -> dict[str, Any]:
    # As the runbook says: from before any event a consumer may not yet have applied. Here that is
    # the portal's start: on a loaded machine consumers lag by more than a minute, and what they had
    # not read when the broker died is gone unless replayed (what they had read, they skip).
    since = portal.started_at
    await portal.do(portal.kill_kafka)
    await asyncio.sleep(plan.hold)
    await portal.do(portal.start_kafka)  # a new broker process: empty
    marked = await portal.do(portal.replay, since)
    return {"replayed_since": since.isoformat(), "events_marked_for_replay": marked}


def _service_killed(name: str) -> Callable[[ChaosPortal, Plan], Awaitable[dict[str, Any]]]:
    async def inject(portal: ChaosPortal, plan: Plan) -> dict[str, Any]:
        await portal.do(portal.kill_service, name)
        await asyncio.sleep(min(plan.hold, 2.0))  # a supervisor's reaction time
        await portal.do(portal.start_service, name)
        return {"killed": [name, f"{name}-worker"], "signal": "SIGKILL"}

    return inject


async def _postgres_restarted(portal: ChaosPortal, plan: Plan) -> dict[str, Any]:
    began = time.monotonic()
    await portal.do(portal.restart_postgres, min(plan.hold, 5.0))
    return {"shutdown": "fast (SIGINT)", "down_seconds": round(time.monotonic() - began, 1)}


# The toxics a network fault goes through, one after the other: (type, attributes, direction, whether
# it lasts ``Plan.stall`` rather than ``Plan.toxic``).
TOXICS: list[tuple[str, dict[str, float], str, bool]] = [
    ("timeout", {"timeout_ms": 1000}, "both", False),  # bytes lost, and each connection closed after a second
    ("reset", {"timeout_ms": 0}, "both", False),  # every connection reset (RST), new ones too
    ("timeout", {"timeout_ms": 0, "hold": 1}, "both", True),  # nothing passes until removed, then all of it
    ("latency", {"latency_ms": 300, "jitter_ms": 100}, "both", False),
    ("bandwidth", {"rate_kb": 8}, "both", False),
    # Last, on connections long open again, and with nothing to close them after it: the answers
    # are lost (the requests arrive and are carried out), the connections stay open, and a caller
    # waiting for an answer on one would wait for ever (a return path gone, a firewall that forgot
    # the connection).
    ("timeout", {"timeout_ms": 0}, "downstream", True),
]


def _link_spoiled(proxy: str) -> Callable[[ChaosPortal, Plan], Awaitable[dict[str, Any]]]:
    async def inject(portal: ChaosPortal, plan: Plan) -> dict[str, Any]:
        proxies = portal.proxies
        assert proxies is not None
        done = []
        for kind, attributes, stream, stalls in TOXICS:
            seconds = plan.stall if stalls else plan.toxic
            await portal.do(lambda k=kind, a=attributes, d=stream: proxies.add(proxy, k, stream=d, name=k, **a))
            await asyncio.sleep(seconds)
            await portal.do(proxies.clear, proxy)
            done.append({"type": kind, **attributes, "stream": stream, "seconds": seconds})
        return {"proxy": proxy, "toxics": done}

    return inject


def faults(kind: str = "short") -> list[Fault]:
    """The faults in the order they strike: ``short`` (one of each, ``make test``) or ``full``
    (the kills and network faults against every service)."""
    everyone = SERVICES if kind == "full" else ("dossier",)
    gateway_links = SERVICES if kind == "full" else ("payment",)
    found = [Fault("broker-wiped", "broker killed, started again empty, every service's outbox replayed",
                   _broker_wiped)]  # fmt: skip
    found += [Fault(f"killed-{name}", f"SIGKILL of the {name} API and its worker, then started again",
                    _service_killed(name), (name,)) for name in everyone]  # fmt: skip
    found.append(Fault("postgres-restarted", "PostgreSQL fast shutdown, then started again", _postgres_restarted))
    spoiled = "connections closed, reset, stalled, slow, thin, then answers lost"
    found += [Fault(f"db-link-{name}", f"the {name} service's link to PostgreSQL: {spoiled}",
                    _link_spoiled(f"db-{name}"), (name,), LOST_ANSWERS_BOUND) for name in everyone]  # fmt: skip
    found += [Fault(f"gateway-link-{name}", f"the gateway's link to the {name} service: {spoiled}",
                    _link_spoiled(f"api-{name}"), (name,)) for name in gateway_links]  # fmt: skip
    return found


@dataclass
class FaultReport:
    name: str
    description: str
    details: dict[str, Any]
    fault_seconds: float
    acknowledged: dict[str, int]
    writes: dict[str, Any]
    earlier_writes: dict[str, Any]
    statuses: dict[str, dict[str, int]]
    violations: list[dict[str, Any]]
    failures_during_fault: int
    first_success_seconds: dict[str, float | None]
    first_acknowledged_write_seconds: float | None
    seconds_to_reconcile: float | None
    reconciled: bool
    problems: list[str]
    figures: dict[str, Any]
    flows: dict[str, int]
    slowest_request_seconds: float
    idempotent_replays: int
    dead_processes: list[str]
    first_success_bound: float | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    service_errors: dict[str, int] = field(default_factory=dict)  # 500s the APIs logged meanwhile

    @property
    def lost(self) -> int:
        return int(self.writes["lost"]) + int(self.earlier_writes["lost"])

    @property
    def duplicated(self) -> int:
        return int(self.writes["duplicated"]) + int(self.earlier_writes["duplicated"])

    @property
    def recovery_seconds(self) -> float | None:
        values = [v for v in self.first_success_seconds.values()]
        return None if any(v is None for v in values) else max(values)  # type: ignore[type-var]

    def failures(self, plan: Plan) -> list[str]:
        """What makes this fault's run a failure (nothing: it passed)."""
        out = []
        bound = self.first_success_bound or plan.first_success_bound
        if self.lost or self.duplicated:
            out.append(f"writes lost {self.lost}, duplicated {self.duplicated}: {self.writes['examples']}")
        if not self.reconciled:
            out.append(f"not reconciled within the deadline: {self.problems}")
        elif (self.seconds_to_reconcile or 0) > plan.reconcile_bound:
            out.append(f"reconciled after {self.seconds_to_reconcile} s, bound {plan.reconcile_bound} s")
        if self.violations:
            out.append(f"{len(self.violations)} answers a client must not see: {self.violations[:5]}")
        recovery = self.recovery_seconds
        if recovery is None or recovery > bound:
            out.append(f"first success after the fault: {self.first_success_seconds} (bound {bound} s)")
        if self.service_errors:
            out.append(f"unhandled errors (500) logged by {self.service_errors}")
        if self.dead_processes:
            out.append(f"processes exited on their own: {self.dead_processes}")
        return out


async def run_fault(portal: ChaosPortal, fault: Fault, plan: Plan, earlier: list[Ledger], seed: int = 1) -> tuple[
        FaultReport, Ledger]:  # fmt: skip
    errors_before = portal.unhandled_errors()
    load = Load(portal, rate=plan.rate, seed=seed)
    await load.start()
    await asyncio.sleep(plan.warm)
    began = time.monotonic()
    details = await fault.inject(portal, plan)
    ended = time.monotonic()
    await asyncio.sleep(plan.after)
    await load.stop()
    audit: Audit = await settle(portal, load.ledger, earlier, since=ended, deadline_seconds=plan.settle)
    obs = load.obs
    errors_after = portal.unhandled_errors()
    report = FaultReport(
        name=fault.name, description=fault.description, details=details, fault_seconds=round(ended - began, 1),
        acknowledged=load.ledger.counts(), writes=audit.writes_total, earlier_writes=audit.earlier_writes_total,
        statuses=obs.by_status(), violations=obs.violations, failures_during_fault=obs.failures_between(began, ended),
        first_success_seconds={name: obs.first_success_after(ended, f"probe-{name}") for name in fault.services},
        first_acknowledged_write_seconds=obs.first_success_after(ended, "submit"),
        seconds_to_reconcile=audit.seconds_to_reconcile, reconciled=audit.reconciled, problems=audit.problems,
        figures=audit.figures, flows={"started": load.started, "shed": load.shed, "unfinished": load.unfinished},
        slowest_request_seconds=obs.slowest_through_gateway(),
        idempotent_replays=load.ledger.idempotent_replays, dead_processes=portal.dead(),
        first_success_bound=fault.first_success_bound, plan=asdict(plan),
        service_errors={name: n - errors_before.get(name, 0) for name, n in errors_after.items()
                        if n > errors_before.get(name, 0)},
    )  # fmt: skip
    return report, load.ledger


# --- the soak -------------------------------------------------------------------------------


@dataclass
class SoakReport:
    capacity_flows_per_second: float
    rate: float
    minutes: float
    acknowledged: dict[str, int]
    writes: dict[str, Any]
    errors: int
    statuses: dict[str, dict[str, int]]
    violations: list[dict[str, Any]]
    rss_kib_after_warm_up: dict[str, int]
    rss_kib_peak_after_warm_up: dict[str, int]
    rss_kib_end: dict[str, int]
    rss_growth_kib: dict[str, int]
    rss_bound: str
    rss_over_bound: dict[str, int]
    outbox_backlog_end: dict[str, int]
    events_not_applied_end: dict[str, int]
    seconds_to_drain: float | None
    reconciled: bool
    problems: list[str]
    slowest_request_seconds: float
    flows: dict[str, int]

    def failures(self) -> list[str]:
        out = []
        if self.writes["lost"] or self.writes["duplicated"]:
            out.append(f"writes lost {self.writes['lost']}, duplicated {self.writes['duplicated']}")
        if self.errors:
            out.append(f"{self.errors} errors: {self.violations[:5]}")
        if self.rss_over_bound:
            out.append(f"memory grew past the bound ({self.rss_bound}): {self.rss_over_bound}")
        if not self.reconciled:
            out.append(f"backlog or lag left at the end: {self.problems}")
        return out


# Every process of ours may grow this much over the soak after its first minute (the broker, which
# keeps every message in memory by design, is reported but not held to it).
RSS_GROWTH_BOUND_KIB = 40 * 1024
RSS_GROWTH_BOUND_SHARE = 0.25
RSS_UNBOUNDED = ("broker",)


async def capacity(portal: ChaosPortal, seconds: float = 15.0, sweep: tuple[int, ...] = (8, 16, 32)) -> float:
    """Flows a second at most, with ``sweep`` clients each running flows back to back."""
    best = 0.0
    for clients in sweep:
        load = Load(portal, rate=1.0, seed=clients)
        await load.start_closed(clients)
        await asyncio.sleep(seconds)
        done = load.completed
        await load.stop()
        best = max(best, done / seconds)
        print(f"  capacity: {clients} clients, {done / seconds:.1f} flows/s", flush=True)
    return best


async def soak(portal: ChaosPortal, minutes: float = 10.0, warm_up: float = 60.0) -> SoakReport:
    top = await capacity(portal)
    rate = round(top / 2, 1)
    print(f"soak: {minutes:g} minutes at {rate} flows/s (half of {top:.1f})", flush=True)
    load = Load(portal, rate=rate, max_in_flight=96, seed=7)
    await load.start()
    began = time.monotonic()
    await asyncio.sleep(warm_up)
    baseline = portal.rss()
    peak = dict(baseline)
    while time.monotonic() - began < minutes * 60:
        await asyncio.sleep(10)
        for name, kib in portal.rss().items():
            peak[name] = max(peak.get(name, 0), kib)
    await load.stop()
    stopped = time.monotonic()
    audit = await settle(portal, load.ledger, [], since=stopped, deadline_seconds=180)
    end = portal.rss()
    growth = {name: end.get(name, 0) - kib for name, kib in baseline.items()}
    bound = {name: max(RSS_GROWTH_BOUND_KIB, int(kib * RSS_GROWTH_BOUND_SHARE)) for name, kib in baseline.items()}
    over = {name: g for name, g in growth.items()
            if name not in RSS_UNBOUNDED and max(g, peak.get(name, 0) - baseline[name]) > bound[name]}  # fmt: skip
    errors = sum(n for (endpoint, status), n in load.obs.statuses.items()
                 if not status.startswith("2") and not (status == "404" and endpoint in ("order", "probe-payment",
                                                                                         "probe-sync")))  # fmt: skip
    return SoakReport(
        capacity_flows_per_second=round(top, 1), rate=rate, minutes=minutes, acknowledged=load.ledger.counts(),
        writes=audit.writes_total, errors=errors + len(load.obs.violations), statuses=load.obs.by_status(),
        violations=load.obs.violations, rss_kib_after_warm_up=baseline, rss_kib_peak_after_warm_up=peak,
        rss_kib_end=end, rss_growth_kib=growth,
        rss_bound=f"growth after the first minute ≤ max({RSS_GROWTH_BOUND_KIB // 1024} MiB, "
        f"{RSS_GROWTH_BOUND_SHARE:.0%} of the process's size then); the broker keeps every message in memory "
        "by design and is not held to it",
        rss_over_bound=over, outbox_backlog_end=audit.figures.get("outbox_backlog", {}),
        events_not_applied_end=audit.figures.get("events_not_applied_by_consumer", {}),
        seconds_to_drain=audit.seconds_to_reconcile, reconciled=audit.reconciled, problems=audit.problems,
        slowest_request_seconds=load.obs.slowest_through_gateway(),
        flows={"started": load.started, "shed": load.shed, "unfinished": load.unfinished},
    )  # fmt: skip
