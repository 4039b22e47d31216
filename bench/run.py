"""The benchmark run: its own embedded PostgreSQL, a generated national-scale catalogue, the
catalogue API and the baseline each served by uvicorn on loopback (one, then two workers), a
load generator in its own process, and the report in ``.data/bench/``.

Every phase is bounded in time and requests; the whole run takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from deploy.local.components import EmbeddedPostgres, free_port, port_open, stop_process, wait_until
from deploy.local.stack import create_database, database_url
from services.kit.migrations import upgrade

from . import report

ROOT = Path(__file__).resolve().parents[1]
SEARCH = "/api/v1/catalogue"

# The typical queries: (kind, path, parameters). Page 2 is fetched with the cursor of page 1.
QUERIES: list[tuple[str, str, dict[str, str]]] = [
    ("plain", "/services", {"q": "cap giay phep lai xe"}),
    ("plain", "/services", {"q": "dang ky khai sinh"}),
    ("plain", "/services", {"q": "giay phep xay dung"}),
    ("plain", "/services", {"q": "the bao hiem y te"}),
    ("plain", "/services", {"q": "dang ky"}),
    ("plain", "/services", {"q": "ho chieu"}),
    ("diacritics", "/services", {"q": "Cấp giấy phép lái xe"}),
    ("diacritics", "/services", {"q": "Đăng ký kết hôn"}),
    ("diacritics", "/services", {"q": "Giấy chứng nhận quyền sử dụng đất"}),
    ("filters", "/services", {"q": "giay phep xay dung", "province": "H29"}),
    ("filters", "/services", {"q": "khai sinh", "province": "H79", "online_level": "full"}),
    ("filters", "/services", {"q": "chung chi hanh nghe", "sector": "DUOC"}),
    ("filters", "/services", {"province": "H48", "level": "province"}),
    ("typo", "/services", {"q": "dang ky khai sihn"}),
    ("typo", "/services", {"q": "giay phep lai xee"}),
    ("typo", "/services", {"q": "ho chieu pho thongg"}),
    ("procedures", "/procedures", {"q": "giay phep kinh doanh"}),
    ("procedures", "/procedures", {"q": "dang ky", "province": "H22"}),
    ("page2", "/services", {"q": "dang ky"}),
    ("page2", "/services", {"q": "giay chung nhan", "province": "H29"}),
    ("page2", "/procedures", {"q": "cap lai"}),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--procedures", type=int, default=7_000)
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per phase")
    parser.add_argument("--max-requests", type=int, default=20_000, help="per phase")
    parser.add_argument("--concurrency", default="1,8", help="clients per phase, comma-separated")
    parser.add_argument("--workers", default="1,2", help="uvicorn workers to compare, comma-separated")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("PORTAL_DATA_DIR", ROOT / ".data")) / "bench")
    parser.add_argument("--scenario", choices=["all", "search", "ingest", "portal", "feedback", "notification",
                                                   "tokens"],
                        default="all")  # fmt: skip
    parser.add_argument("--dossiers", type=int, default=1_000_000, help="dossiers generated before the portal phases")
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts generated before the portal phases")
    # One, as in production (a process per pod, more pods for more load): on these two cores a
    # second worker only shared them with the rest (CPU per submission 4.0 → 3.3 ms with one).
    parser.add_argument("--dossier-workers", type=int, default=1,
                        help="uvicorn workers of the dossier API and of its baseline")  # fmt: skip
    parser.add_argument("--sweep", default="1,4,8,16,32", help="clients per submission phase (the plot's points)")
    parser.add_argument("--answers", type=int, default=1_000_000, help="published answers the feedback search reads")
    parser.add_argument("--ingest-records", type=int, default=40_000, help="status records pushed (batches of 500)")
    parser.add_argument("--ingest-clients", type=int, default=4, help="agency clients pushing at once")
    parser.add_argument("--ingest-deadline", type=float, default=600, help="seconds to wait for every record")
    from .notification import add_arguments
    from .tokens import add_arguments as add_token_arguments

    add_arguments(parser)
    add_token_arguments(parser)
    return parser.parse_args(argv)


# --- processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (Linux /proc), those that have
    ended included (their parents' ``cutime``/``cstime``), so the sum never goes back when, say,
    a PostgreSQL backend exits during a phase."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def _children_cpu() -> float:
    """CPU of this process's children that have ended (the load generator, once it has)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_server(args: list[str], env: dict[str, str], port: int | None, log: Path) -> subprocess.Popen[bytes]:
    """A process of ours (``python args``), its output to ``log``; waits for ``port`` if given."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    if port is not None:
        wait_until(lambda: port_open("127.0.0.1", port), 60, f"{args} (log: {log})", proc)
    return proc


# --- phases ---------------------------------------------------------------------------------


def page_two_cursors(base: str) -> list[tuple[str, str]]:
    """The request plan: page-2 kinds get the cursor of their first page."""
    plan = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for kind, path, params in QUERIES:
            if kind == "page2":
                cursor = client.get(SEARCH + path, params=params).json()["next"]
                if cursor is None:  # a small catalogue may have one page only
                    continue
                params = {**params, "cursor": cursor}
            plan.append((kind, f"{SEARCH}{path}?{urlencode(params)}"))
    return plan


def measure(
    target: str, base: str, plan: list[Any], pids: list[int] | dict[str, int], postgres_pid: int, concurrency: int,
    options: argparse.Namespace, *, headers: dict[str, str] | None = None, rate: float | None = None,
) -> report.Phase:  # fmt: skip
    """One phase of load from its own process; the CPU of ``pids`` (and their children) and of
    PostgreSQL per request; when ``pids`` names them (name -> pid), each process's share too."""
    named = pids if isinstance(pids, dict) else {}
    pids = list(pids.values()) if isinstance(pids, dict) else pids
    plan_file = options.out / "plan.json"
    result_file = options.out / "load.json"
    plan_file.write_text(json.dumps(plan))
    before = {p: cpu_seconds(p) for p in pids}
    cpu_before, db_before = sum(before.values()), cpu_seconds(postgres_pid)
    load_before = _children_cpu()
    extra = (["--headers", json.dumps(headers)] if headers else []) + (["--rate", str(rate)] if rate else [])
    subprocess.run(
        [sys.executable, "-m", "bench.load", "--base", base, "--plan", str(plan_file), "--concurrency",
         str(concurrency), "--seconds", str(options.seconds), "--max-requests", str(options.max_requests),
         "--out", str(result_file), *extra],
        check=True, cwd=ROOT, timeout=options.seconds + 120,
    )  # fmt: skip
    after = {p: cpu_seconds(p) for p in pids}
    load_cpu = _children_cpu() - load_before
    cpu, db_cpu = sum(after.values()) - cpu_before, cpu_seconds(postgres_pid) - db_before
    result = json.loads(result_file.read_text())
    seconds = result["seconds"]
    kinds = {
        kind: report.figures(values, result["errors"][kind], seconds) for kind, values in result["latencies_ms"].items()
    }
    every = [v for values in result["latencies_ms"].values() for v in values]
    overall = report.figures(every, sum(result["errors"].values()), seconds)
    # CPU includes the 2 s warm-up; so do the requests counted for it (at the measured rate).
    per_request = 1000 / max(1.0, overall.requests * (seconds + 2.0) / seconds)
    phase = report.Phase(target, concurrency, round(seconds, 1), overall, kinds if len(kinds) > 1 else {},
                         round(cpu * per_request, 3), round(db_cpu * per_request, 3),
                         {**{name: round((after[pid] - before[pid]) * per_request, 3) for name, pid in named.items()},
                          "load generator": round(load_cpu * per_request, 3)})  # fmt: skip
    print(f"  {target}, {concurrency} clients: p50 {overall.p50_ms} ms, p95 {overall.p95_ms} ms, "
          f"p99 {overall.p99_ms} ms, {overall.throughput_rps} req/s, {overall.errors} errors"
          + "".join(f", {n}× {why}" for why, n in sorted(result.get("failures", {}).items())), flush=True)  # fmt: skip
    return phase


async def generate(url: str, procedures: int, services: int) -> dict[str, Any]:
    from services.catalogue.adapters.unit_of_work import SqlCatalogueUnitOfWork
    from services.catalogue.service.generator import Plan, generate_catalogue
    from services.kit.db import Database

    db = Database(url, source="catalogue", topic="catalogue.events", pool_size=1, unit_of_work=SqlCatalogueUnitOfWork)
    try:
        async with db.transaction() as uow:
            assert isinstance(uow, SqlCatalogueUnitOfWork)
            made = await generate_catalogue(uow, Plan(procedures=procedures, services=services, seed=1))
    finally:
        await db.dispose()
    return {k: v for k, v in vars(made).items() if k != "service_ids"}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    options.out.mkdir(parents=True, exist_ok=True)
    if options.scenario in ("all", "search"):
        search(options)
    if options.scenario in ("all", "portal"):
        from .portal import run_portal

        portal = run_portal(options)
        md, _ = report.write(portal, options.out, "portal")
        print(report.markdown(portal))
        print(f"report: {md}")
    if options.scenario in ("all", "feedback"):
        from .feedback import run_feedback

        feedback = run_feedback(options)
        md, _ = report.write(feedback, options.out, "feedback")
        print(report.markdown(feedback))
        print(f"feedback search: {feedback.setup['target']}")
        print(f"report: {md}")
    if options.scenario in ("all", "ingest"):
        from .ingest import run_ingest

        ingest = run_ingest(options.out, options.ingest_records, options.ingest_clients, options.ingest_deadline)
        md, _ = report.write(ingest, options.out, "ingest")
        print(report.markdown(ingest))
        print(f"report: {md}")
    if options.scenario in ("all", "notification"):
        from .notification import run_notification

        notified = run_notification(options)
        md, _ = report.write(notified, options.out, "notification")
        print(report.markdown(notified))
        print(f"report: {md}")
    if options.scenario in ("all", "tokens"):
        from .tokens import run_tokens

        issued = run_tokens(options)
        md, _ = report.write(issued, options.out, "tokens")
        print(report.markdown(issued))
        print(f"report: {md}")
    return 0


def search(options: argparse.Namespace) -> None:
    workdir = options.out / "postgres"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh cluster every run
    started = time.monotonic()
    postgres = EmbeddedPostgres(workdir, free_port(), fast=True)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        postgres.start()
        assert postgres.proc is not None
        url = database_url(postgres.url(), "bench_catalogue")
        asyncio.run(create_database(postgres.url(), "bench_catalogue"))
        from services.catalogue.app import SERVICE

        upgrade(SERVICE.migrations, url)
        print("generating the catalogue ...", flush=True)
        t = time.monotonic()
        made = asyncio.run(generate(url, options.procedures, options.services))
        generation = round(time.monotonic() - t, 1)
        print(f"  {made} in {generation} s", flush=True)

        result = report.Report(
            "Catalogue search at national scale",
            {
                "catalogue": f"{made['procedures']} procedures, {made['services']} published online services, "
                f"{made['agencies']} agencies (generated, seed 1, in {generation} s)",
                "machine": f"{os.cpu_count()} CPUs; PostgreSQL 18 embedded (fsync off), server and load on loopback",
                "servers": "uvicorn, access log off, no reload; catalogue with its production middleware and logging",
                "baseline": "bare FastAPI endpoint, one `SELECT 1` through an asyncpg pool, served the same way",
                "load": f"httpx clients in their own process, closed loop, {options.seconds:.0f} s per phase "
                f"after 2 s warm-up, at most {options.max_requests} requests",
            },
        )
        plan: list[tuple[str, str]] | None = None
        concurrencies = [int(c) for c in options.concurrency.split(",")]
        for workers in (int(w) for w in options.workers.split(",")):
            label = f"{workers} worker{'s' if workers > 1 else ''}"
            port = free_port()
            log = options.out / "servers.log"
            server = start_server(["-m", "bench.baseline", "--port", str(port), "--workers", str(workers)],
                                  {"BENCH_DATABASE_URL": url}, port, log)  # fmt: skip
            servers.append(server)
            bare = [("baseline", "/baseline")]
            for c in concurrencies:
                phase = measure(
                    f"baseline, {label}", f"http://127.0.0.1:{port}", bare, [server.pid], postgres.proc.pid, c, options
                )
                result.phases.append(phase)
            stop_process(server)
            port = free_port()
            env = {"CATALOGUE_DATABASE_URL": url, "CATALOGUE_PORT": str(port), "CATALOGUE_HOST": "127.0.0.1",
                   "PORTAL_ENVIRONMENT": "development", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}  # fmt: skip
            server = start_server(["-m", "services.catalogue", "api", "--workers", str(workers)], env, port, log)
            servers.append(server)
            base = f"http://127.0.0.1:{port}"
            plan = plan or page_two_cursors(base)
            for c in concurrencies:
                result.phases.append(
                    measure(f"catalogue, {label}", base, plan, [server.pid], postgres.proc.pid, c, options)
                )
            stop_process(server)
        result.setup["total run"] = f"{time.monotonic() - started:.0f} s"
        md, js = report.write(result, options.out)
        print(report.markdown(result))
        print(f"report: {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md} and {js.name}")
    finally:
        for server in servers:
            stop_process(server)
        postgres.destroy()
