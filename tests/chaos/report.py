"""The chaos figures as Markdown and JSON under ``.data/chaos/`` (and printed)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .scenario import LOST_ANSWERS_BOUND, FaultReport, Plan, SoakReport

ROOT = Path(__file__).resolve().parents[2]


def out_dir() -> Path:
    path = Path(os.environ.get("PORTAL_DATA_DIR", ROOT / ".data")) / "chaos"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _odd(statuses: dict[str, dict[str, int]]) -> str:
    """The answers other than 2xx (and the 404s the load expects), summed over endpoints."""
    counts: dict[str, int] = {}
    for endpoint, by_status in statuses.items():
        for status, n in by_status.items():
            if status.startswith("2") or (status == "404" and endpoint in ("order", "probe-payment", "probe-sync")):
                continue
            counts[status] = counts.get(status, 0) + n
    return ", ".join(f"{s}×{n}" for s, n in sorted(counts.items())) or "none"


def fault_table(reports: list[FaultReport], plan: Plan) -> str:
    lines = [
        "| fault | writes acknowledged | found | lost | duplicated | answers other than 2xx | first success after "
        "the fault (s) | reconciled after (s) | passed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        first = ", ".join(f"{k} {v}" for k, v in r.first_success_seconds.items())
        passed = "yes" if not r.failures(plan) else "**no**"
        lines.append(
            f"| {r.name} | {r.writes['acknowledged']} ({r.acknowledged['submissions']} dossiers, "
            f"{r.acknowledged['orders']} orders, {r.acknowledged['payments']} payments, "
            f"{r.acknowledged['status_records']} status records) | {r.writes['found']} | {r.lost} | {r.duplicated} | "
            f"{_odd(r.statuses)} | {first} | {r.seconds_to_reconcile} | {passed} |"
        )
    return "\n".join(lines)


def soak_text(s: SoakReport) -> str:
    mib = {name: f"{kib / 1024:.0f}→{s.rss_kib_end.get(name, 0) / 1024:.0f} MiB (peak "
                 f"{s.rss_kib_peak_after_warm_up.get(name, kib) / 1024:.0f})"
           for name, kib in s.rss_kib_after_warm_up.items()}  # fmt: skip
    return "\n".join([
        f"- capacity (mixed flows, closed loop): {s.capacity_flows_per_second} flows/s; soak at {s.rate} flows/s "
        f"for {s.minutes:g} minutes ({s.flows['started']} flows, {s.flows['shed']} shed)",
        f"- writes acknowledged {s.writes['acknowledged']} ({s.acknowledged}); found {s.writes['found']}, lost "
        f"{s.writes['lost']}, duplicated {s.writes['duplicated']}",
        f"- errors: {s.errors} (answers other than 2xx: {_odd(s.statuses)}); slowest request "
        f"{s.slowest_request_seconds} s",
        f"- memory after the first minute → end: {'; '.join(f'{k} {v}' for k, v in mib.items())}",
        f"- bound: {s.rss_bound}; over it: {s.rss_over_bound or 'none'}",
        f"- at the end: outbox backlog {s.outbox_backlog_end}, events not applied {s.events_not_applied_end}, "
        f"drained {s.seconds_to_drain} s after the load stopped; reconciled: {s.reconciled}",
    ])  # fmt: skip


def write(stem: str, title: str, plan: Plan, reports: list[FaultReport], soak: SoakReport | None = None,
          setup: dict[str, Any] | None = None) -> Path:  # fmt: skip
    folder = out_dir()
    parts = [f"# {title}", ""]
    for key, value in (setup or {}).items():
        parts.append(f"- {key}: {value}")
    parts += ["", f"Bounds: a service answers again within {plan.first_success_bound:g} s of a fault's end (where "
              "PostgreSQL's answers were lost: within the client's command timeout and 10 s more, "
              f"{LOST_ANSWERS_BOUND:g} s); every figure reconciles within {plan.reconcile_bound:g} s of it.",
              ""]  # fmt: skip
    if reports:
        parts += [fault_table(reports, plan), ""]
        for r in reports:
            problems = r.failures(plan)
            parts += [f"## {r.name}", "", r.description + f" ({r.fault_seconds} s).", "",
                      f"- details: {r.details}",
                      f"- failed requests while the fault lasted: {r.failures_during_fault}; slowest request "
                      f"{r.slowest_request_seconds} s; retries answered with the first dossier: "
                      f"{r.idempotent_replays}; flows {r.flows}",
                      f"- first acknowledged submission after the fault: {r.first_acknowledged_write_seconds} s; "
                      f"500s the services logged: {r.service_errors or 'none'}",
                      f"- figures: {r.figures}",
                      f"- verdict: {problems or 'passed'}", ""]  # fmt: skip
    if soak is not None:
        parts += ["## Soak", "", soak_text(soak), ""]
    md = folder / f"{stem}.md"
    md.write_text("\n".join(parts))
    data = {"title": title, "setup": setup or {}, "plan": asdict(plan),
            "faults": [asdict(r) | {"lost": r.lost, "duplicated": r.duplicated, "passed": not r.failures(plan)}
                       for r in reports],
            "soak": asdict(soak) | {"passed": not soak.failures()} if soak else None}  # fmt: skip
    (folder / f"{stem}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    return md
