"""Figures of a run: latency percentiles, throughput, errors, CPU per request, and the report
as Markdown and JSON. Pure functions, no I/O but ``write``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (the smallest value with at least p% of values at or below
    it); 0 for no values."""
    if not values:
        return 0.0
    if not 0 < p <= 100:
        raise ValueError("p is in (0, 100]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class Figures:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float


def figures(latencies_ms: Sequence[float], errors: int, seconds: float) -> Figures:
    done = len(latencies_ms) + errors
    return Figures(
        requests=done,
        errors=errors,
        p50_ms=round(percentile(latencies_ms, 50), 2),
        p95_ms=round(percentile(latencies_ms, 95), 2),
        p99_ms=round(percentile(latencies_ms, 99), 2),
        throughput_rps=round(len(latencies_ms) / seconds, 1) if seconds > 0 else 0.0,
    )


@dataclass
class Phase:
    """One load phase against one server: overall and per query kind."""

    target: str  # e.g. "catalogue, 1 worker"
    concurrency: int
    seconds: float
    overall: Figures
    kinds: dict[str, Figures]
    server_cpu_ms_per_request: float
    database_cpu_ms_per_request: float
    # The server CPU split by process (when the phase named them): where a path spends its time.
    cpu_ms_per_request_by_process: dict[str, float] = field(default_factory=dict)


@dataclass
class Report:
    title: str
    setup: dict[str, Any]
    phases: list[Phase] = field(default_factory=list)

    def baseline_for(self, phase: Phase) -> Phase | None:
        """The baseline phase with the same workers and concurrency."""
        workers = phase.target.split(", ")[-1]
        for other in self.phases:
            same_setup = other.target.endswith(workers) and other.concurrency == phase.concurrency
            if other.target.startswith("baseline") and same_setup:
                return other
        return None


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.1f}×" if baseline > 0 else "–"


def markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"- {key}: {value}" for key, value in report.setup.items()]
    if not report.phases:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "Latency in ms (closed loop: each client sends its next request when the last one is answered).",
        "Ratios are against the baseline with the same workers and concurrency, measured in this run.",
        "",
        "| target | clients | kind | requests | errors | p50 | p95 | p99 | req/s | server CPU ms/req | "
        "database CPU ms/req | p95 / baseline | req/s / baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in report.phases:
        base = report.baseline_for(phase)
        for kind, fig in [("all", phase.overall), *sorted(phase.kinds.items())]:
            cpu = f"{phase.server_cpu_ms_per_request:.2f}" if kind == "all" else ""
            db_cpu = f"{phase.database_cpu_ms_per_request:.2f}" if kind == "all" else ""
            versus = (
                (ratio(fig.p95_ms, base.overall.p95_ms), ratio(fig.throughput_rps, base.overall.throughput_rps))
                if base is not None and base is not phase
                else ("", "")
            )
            lines.append(
                f"| {phase.target} | {phase.concurrency} | {kind} | {fig.requests} | {fig.errors} | {fig.p50_ms} | "
                f"{fig.p95_ms} | {fig.p99_ms} | {fig.throughput_rps if kind == 'all' else ''} | {cpu} | {db_cpu} | "
                f"{versus[0]} | {versus[1] if kind == 'all' else ''} |"
            )
    split = [p for p in report.phases if p.cpu_ms_per_request_by_process]
    if split:
        lines += ["", "Server CPU per request by process (ms):", ""]
        for phase in split:
            parts = ", ".join(f"{name} {ms:.2f}" for name, ms in phase.cpu_ms_per_request_by_process.items())
            lines.append(f"- {phase.target}, {phase.concurrency} clients: {parts}")
    return "\n".join(lines) + "\n"


def write(report: Report, directory: Path, name: str = "report") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / f"{name}.md", directory / f"{name}.json"
    md.write_text(markdown(report), encoding="utf-8")
    js.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    return md, js
