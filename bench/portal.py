"""The portal's paths under load, each next to a baseline measured in the same run:

- dossier submission through the gateway (token check at the gateway and the service, form
  validation, the dossier's daily code, insert, outbox), each under its own citizen's token, at
  rising numbers of clients — the points of the latency-against-load plot; baselines: a bare
  FastAPI endpoint inserting the posted JSON with asyncpg, served by uvicorn the same way, both
  straight and behind the same gateway program (token check included);
- listing: a citizen's newest dossiers among all generated, 5,000 citizens in turn;
- the gateway's overhead: the same read (an owner's dossier) through the gateway and straight
  to the dossier service;
- event propagation: submissions at 100 a second, from the producing transaction to the
  dossier service's statistics consumer applying the ``submitted`` event;
- client-credentials tokens from the identity service through the gateway.

On generated data at scale: ``--dossiers`` dossiers (default 1,000,000) and ``--accounts``
accounts (default 100,000; one shared password hash, so generating them costs no Argon2).
Everything on loopback, in its own PostgreSQL and broker, each phase bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import httpx

from deploy.local.components import EmbeddedKafka, EmbeddedPostgres, free_port, serve, stop_process
from deploy.local.stack import prepare_databases, prepare_topics
from services.kit.jose import ACCESS_TOKEN_TYPE, generate_rsa, sign_pem

from . import report
from .ingest import jwks_app
from .run import measure, start_server

SERVICES = 20  # published online services, each at its own agency (a code's daily sequence is per agency)
# Citizens whose own tokens the submission and listing phases send, one after another: each token's
# first use is checked in full (signature, claims) by the gateway and by the service, and later
# ones are remembered (each verifier holds 20,000), as when a citizen's session makes several calls.
CITIZENS = 5_000
PROPAGATION_RATE = 100.0
TOKEN_CLIENT = ("bench-province", "bench-province-secret-0123456789abcdef")


def _agency(i: int) -> str:
    return f"000.00.{i % 90 + 10:02d}.H{i // 90 % 60 + 10:02d}"


def service_event(i: int) -> dict[str, Any]:
    """``catalogue.online_service.published.v1`` of bench service ``i``."""
    return {
        "revision": 1, "service_id": str(uuid.UUID(int=i + 1)), "version": 1,
        "procedure": {
            "code": "1.002804", "name": "Cấp đổi giấy phép lái xe", "sector_code": "DB", "sector_name": "Đường bộ",
            "level": "province", "steps": ["Nộp hồ sơ trực tuyến", "Tiếp nhận", "Trả kết quả"],
            "documents": [{"code": "TP01", "name": "Đơn đề nghị", "copies": 1, "required": False, "template": None}],
            "processing_days": 5,
            "fees": [{"code": "LP01", "name": "Lệ phí", "amount": 135_000, "currency": "VND", "condition": None}],
            "legal_basis": ["Thông tư 35/2024/TT-BGTVT"], "results": ["Giấy phép lái xe"],
        },
        "agency": {"code": _agency(i), "name": f"Sở Xây dựng {i}", "province_code": _agency(i)[-3:]},
        "online_level": "full",
        "form_schema": {"type": "object", "additionalProperties": False, "required": ["ho_ten", "so_gplx"],
                        "properties": {"ho_ten": {"type": "string", "minLength": 1, "maxLength": 100},
                                       "so_gplx": {"type": "string", "pattern": "^[0-9]{12}$"}}},
        "fees": [{"code": "LP01", "name": "Lệ phí", "amount": 135_000, "currency": "VND", "condition": None}],
        "processing_days": 5, "routing_target": f"one-stop/{i}",
        "published_at": datetime(2025, 1, 1, tzinfo=UTC).isoformat(),
    }  # fmt: skip


def submission(i: int) -> dict[str, Any]:
    return {
        "service_id": str(uuid.UUID(int=i % SERVICES + 1)),
        "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
        "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"},
        "attachments": [],
    }


GENERATE_DOSSIERS = """
INSERT INTO dossiers (id, code, origin, owner, applicant_kind, applicant_identifier, applicant, procedure_code,
                      procedure_name, agency_code, status, status_changed_at, last_update_at, received_at,
                      appointment_date, created_at)
SELECT gen_random_uuid(), a.agency || '-250101-' || lpad(g::text, 8, '0'),
       CASE WHEN g % 4 = 0 THEN 'mirrored' ELSE 'portal' END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'citizen-' || (g % $2::int) END,
       'citizen', lpad((g % $2::int)::text, 12, '0'),
       jsonb_build_object('kind', 'citizen', 'identifier', lpad((g % $2::int)::text, 12, '0'),
                          'name', 'Người nộp ' || g),
       '1.002804', 'Cấp đổi giấy phép lái xe', a.agency, 1 + g % 10, a.at, a.at, a.at, (a.at + interval '7 days')::date,
       a.at
FROM generate_series($1::int, $1::int + $3::int - 1) g,
     LATERAL (SELECT '000.00.' || lpad((g % 90 + 10)::text, 2, '0') || '.H' || lpad((g / 90 % 60 + 10)::text, 2, '0')
                     AS agency,
                     now() - (g % 365) * interval '1 day' - (g % 86400) * interval '1 second' AS at) a
"""

GENERATE_ACCOUNTS = """
INSERT INTO accounts (id, kind, status, name, personal_id, phone, phone_verified, password_hash)
SELECT 'citizen-' || (g - 1), 'citizen', 'active', 'Công dân ' || g, lpad((900000000000 + g)::text, 12, '0'),
       '+849' || lpad(g::text, 8, '0'), true, $2::text
FROM generate_series(1, $1::int) g
"""


async def generate(urls: dict[str, str], dossiers: int, accounts: int) -> dict[str, float]:
    from argon2 import PasswordHasher

    from services.dossier.adapters.unit_of_work import SqlDossierUnitOfWork
    from services.dossier.service import catalogue_view
    from services.dossier.service.unit_of_work import DossierUnitOfWork
    from services.kit.db import Database

    took: dict[str, float] = {}
    db = Database(urls["dossier"], source="dossier", topic="dossier.events", unit_of_work=SqlDossierUnitOfWork)
    try:
        for i in range(SERVICES):
            async with db.transaction() as uow:
                # The database makes the dossier unit of work (its repositories on the connection).
                await catalogue_view.apply_service_published(cast(DossierUnitOfWork, uow), service_event(i))
    finally:
        await db.dispose()
    conn = await asyncpg.connect(urls["dossier"].replace("+asyncpg", ""))
    try:
        started = time.perf_counter()
        for start in range(1, dossiers + 1, 250_000):
            await conn.execute(GENERATE_DOSSIERS, start, max(1, accounts), min(250_000, dossiers - start + 1))
        await conn.execute("ANALYZE dossiers")
        took["dossiers"] = time.perf_counter() - started
    finally:
        await conn.close()
    conn = await asyncpg.connect(urls["identity"].replace("+asyncpg", ""))
    try:
        started = time.perf_counter()
        await conn.execute(GENERATE_ACCOUNTS, accounts, PasswordHasher().hash("Bench-Account-2025"))
        await conn.execute("ANALYZE accounts")
        took["accounts"] = time.perf_counter() - started
    finally:
        await conn.close()
    return took


async def token_client(identity_url: str) -> None:
    """The machine client the token phase authenticates as (through the identity use case)."""
    from services.identity.adapters.unit_of_work import transaction
    from services.identity.domain.oauth import ClientKind
    from services.identity.service.clients import create_client
    from services.kit.db import Database

    db = Database(identity_url, source="identity", topic="identity.events")
    try:
        async with transaction(db) as uow:
            await create_client(uow, client_id=TOKEN_CLIENT[0], name="Bench province", kind=ClientKind.CONFIDENTIAL,
                                grant_types=["client_credentials"], allowed_scopes=["sync:push"],
                                agencies=[_agency(0)], secret=TOKEN_CLIENT[1])  # fmt: skip
    finally:
        await db.dispose()


async def propagation(dossier_url: str, since: datetime) -> list[float]:
    """Milliseconds from the producing transaction to the statistics consumer's claim of each
    ``submitted`` event created since ``since`` (both PostgreSQL's clock)."""
    conn = await asyncpg.connect(dossier_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            """SELECT extract(epoch FROM i.processed_at - o.created_at) * 1000 AS ms
               FROM kit_outbox o JOIN kit_inbox i ON i.event_id = o.event_id AND i.consumer = 'dossier.statistics'
               WHERE o.type = 'dossier.dossier.submitted.v1' AND o.created_at >= $1""",
            since,
        )
        waiting = await conn.fetchval(
            "SELECT count(*) FROM kit_outbox WHERE type = 'dossier.dossier.submitted.v1' AND created_at >= $1", since
        )
    finally:
        await conn.close()
    if len(rows) != waiting:
        raise RuntimeError(f"{waiting - len(rows)} of {waiting} submitted events were not applied")
    return [float(r["ms"]) for r in rows]


def plot(result: report.Report, path: Any) -> None:
    """Latency (p50, p99) against throughput for the submission and its baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for target, colour in (("submission via gateway", "tab:blue"), ("baseline insert", "tab:grey"),
                           ("baseline insert via gateway", "tab:orange")):  # fmt: skip
        phases = [p for p in result.phases if p.target == target]
        rates = [p.overall.throughput_rps for p in phases]
        ax.plot(rates, [p.overall.p50_ms for p in phases], "o-", color=colour, label=f"{target}, p50")
        ax.plot(rates, [p.overall.p99_ms for p in phases], "s--", color=colour, label=f"{target}, p99")
        for p in phases:
            ax.annotate(f"{p.concurrency}", (p.overall.throughput_rps, p.overall.p99_ms), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))  # fmt: skip
    ax.axhline(150, color="tab:red", linewidth=0.8, linestyle=":", label="p99 target 150 ms")
    ax.axvline(300, color="tab:green", linewidth=0.8, linestyle=":", label="300 submissions/s")
    ax.set_xlabel("completed requests per second (labels: clients)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.set_title("Dossier submission: latency against load (2 cores, every component running)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_portal(options: argparse.Namespace) -> report.Report:
    workdir = options.out / "portal"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.monotonic()
    postgres = EmbeddedPostgres(workdir / "postgres", free_port(), fast=True)
    kafka = EmbeddedKafka(free_port(), log_path=workdir / "kafka.log")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    pem, public = generate_rsa(2048, "bench-key")
    sweep = [int(c) for c in options.sweep.split(",")]
    result = report.Report("The portal's paths under load", {})
    try:
        postgres.start()
        kafka.start()
        assert postgres.proc is not None
        urls = asyncio.run(prepare_databases(postgres.url(), prefix="bench", services=("identity", "dossier")))
        asyncio.run(prepare_topics(kafka.bootstrap, partitions=6))
        print(f"generating {options.dossiers} dossiers and {options.accounts} accounts ...", flush=True)
        took = asyncio.run(generate(urls, options.dossiers, options.accounts))
        asyncio.run(token_client(urls["identity"]))
        with serve(jwks_app(public)) as jwks_base:
            ports = {name: free_port() for name in ("gateway", "dossier", "identity", "baseline", "baseline gateway")}
            issuer = f"http://127.0.0.1:{ports['gateway']}"
            env = {"PORTAL_ENVIRONMENT": "development", "PORTAL_LOG_LEVEL": "WARNING", "KAFKA_BOOTSTRAP_SERVERS":
                   kafka.bootstrap, "PORTAL_OIDC_ISSUER": issuer, "PORTAL_OIDC_JWKS_URL": f"{jwks_base}/jwks",
                   "DOSSIER_DATABASE_URL": urls["dossier"], "IDENTITY_DATABASE_URL": urls["identity"],
                   "DOSSIER_PORT": str(ports["dossier"]), "IDENTITY_PORT": str(ports["identity"]),
                   "DOSSIER_OUTBOX_POLL_SECONDS": "0.2", "GATEWAY_PORT": str(ports["gateway"]),
                   "GATEWAY_DOSSIER_URL": f"http://127.0.0.1:{ports['dossier']}",
                   "GATEWAY_IDENTITY_URL": f"http://127.0.0.1:{ports['identity']}",
                   "GATEWAY_RATE_LIMIT_PER_MINUTE": "0", "BENCH_DATABASE_URL":
                   urls["dossier"].replace("+asyncpg", "")}  # fmt: skip
            log = workdir / "processes.log"
            # Served the same way as the dossier API: the same number of uvicorn workers.
            procs["baseline"] = start_server(["-m", "bench.baseline", "--port", str(ports["baseline"]),
                                              "--workers", str(options.dossier_workers)], env, ports["baseline"],
                                             log)  # fmt: skip
            # The same gateway program in front of the baseline, as the dossier service's upstream.
            baseline_env = {**env, "GATEWAY_PORT": str(ports["baseline gateway"]),
                            "GATEWAY_DOSSIER_URL": f"http://127.0.0.1:{ports['baseline']}"}  # fmt: skip
            procs["baseline gateway"] = start_server(["-m", "gateway"], baseline_env, ports["baseline gateway"], log)
            api = ["-m", "services.dossier", "api", "--workers", str(options.dossier_workers)]
            procs["dossier api"] = start_server(api, env, ports["dossier"], log)
            procs["dossier worker"] = start_server(["-m", "services.dossier", "worker"], env, None, log)
            procs["identity api"] = start_server(["-m", "services.identity", "api"], env, ports["identity"], log)
            procs["gateway"] = start_server(["-m", "gateway"], env, ports["gateway"], log)
            now = int(time.time())

            def bearer(sub: str) -> dict[str, str]:
                claims = {"iss": issuer, "aud": "dossier", "sub": sub, "scope": "dossier:submit dossier:read",
                          "iat": now, "exp": now + 3 * 3600}  # fmt: skip
                return {"Authorization": f"Bearer {sign_pem(claims, pem, 'bench-key', typ=ACCESS_TOKEN_TYPE)}"}

            citizen = bearer("citizen-1")
            # Citizens spread over the generated accounts (their dossiers' owners).
            crowd = [bearer(f"citizen-{i * max(1, options.accounts // CITIZENS) % max(1, options.accounts)}")
                     for i in range(CITIZENS)]  # fmt: skip
            plan = [["submit", "/api/v1/dossier/dossiers", "POST", submission(i), "json", crowd[i]]
                    for i in range(CITIZENS)]  # fmt: skip
            db_pid = postgres.proc.pid
            portal_pids = {n: procs[n].pid for n in ("gateway", "dossier api", "dossier worker")}
            print("submission: baseline and the portal at rising load ...", flush=True)
            base_plan = [["insert", "/baseline/insert", "POST", submission(0)]]
            gated_plan = [["insert", "/api/v1/dossier/baseline/insert", "POST", submission(i), "json", crowd[i]]
                          for i in range(CITIZENS)]  # fmt: skip
            baseline_pids = {"gateway": procs["baseline gateway"].pid, "baseline": procs["baseline"].pid}
            for c in sweep:
                result.phases.append(measure("baseline insert", f"http://127.0.0.1:{ports['baseline']}", base_plan,
                                             {"baseline": procs["baseline"].pid}, db_pid, c, options))  # fmt: skip
                gated_base = f"http://127.0.0.1:{ports['baseline gateway']}"
                result.phases.append(measure("baseline insert via gateway", gated_base, gated_plan, baseline_pids,
                                             db_pid, c, options))  # fmt: skip
            for c in sweep:
                result.phases.append(measure("submission via gateway", issuer, plan, portal_pids, db_pid, c, options))
            stop_process(procs.pop("baseline gateway"))
            stop_process(procs.pop("baseline"))

            print("listing: each citizen's own dossiers, newest first, among all generated ...", flush=True)
            listing = [["list", "/api/v1/dossier/dossiers?limit=20", "GET", None, None, crowd[i]]
                       for i in range(CITIZENS)]  # fmt: skip
            result.phases.append(measure("own dossiers via gateway", issuer, listing, portal_pids, db_pid, 8, options))

            print("gateway overhead: the same read through the gateway and directly ...", flush=True)
            with httpx.Client(base_url=issuer, headers=citizen, timeout=30) as client:
                mine = client.get("/api/v1/dossier/dossiers", params={"limit": 1}).json()["items"][0]["id"]
            read = [["read", f"/api/v1/dossier/dossiers/{mine}"]]
            direct = read  # the service serves the same path the gateway forwards
            for c in (1, 8):
                result.phases.append(measure("read via gateway", issuer, read, portal_pids, db_pid, c, options,
                                             headers=citizen))  # fmt: skip
                result.phases.append(measure("read direct", f"http://127.0.0.1:{ports['dossier']}", direct,
                                             [procs["dossier api"].pid], db_pid, c, options,
                                             headers=citizen))  # fmt: skip

            print(f"event propagation at {PROPAGATION_RATE:.0f} submissions/s ...", flush=True)
            since = datetime.now(UTC) - timedelta(seconds=1)  # PostgreSQL's clock is this machine's
            result.phases.append(measure("submission at 100/s (open loop)", issuer, plan, portal_pids, db_pid, 64,
                                         options, rate=PROPAGATION_RATE))  # fmt: skip
            time.sleep(3)  # the last events through the relay and the consumer
            delays = asyncio.run(propagation(urls["dossier"], since))

            print("client-credentials tokens ...", flush=True)
            basic = base64.b64encode(f"{TOKEN_CLIENT[0]}:{TOKEN_CLIENT[1]}".encode()).decode()
            token_plan = [["token", "/oauth2/token", "POST", {"grant_type": "client_credentials"}, "form"]]
            for c in (8,):
                result.phases.append(measure("client-credentials token via gateway", issuer, token_plan,
                                             {"identity api": procs["identity api"].pid,
                                              "gateway": procs["gateway"].pid}, db_pid, c, options,
                                             headers={"Authorization": f"Basic {basic}"}))  # fmt: skip
    finally:
        for proc in procs.values():
            stop_process(proc)
        kafka.stop()
        postgres.destroy()

    png = options.out / "submission.png"
    plot(result, png)
    _summarise(result, options, took, delays, png, time.monotonic() - started)
    return result


def _split(phase: report.Phase) -> str:
    """Where a phase's CPU went, largest first: on two shared cores, the path's bottleneck."""
    parts = {**phase.cpu_ms_per_request_by_process, "PostgreSQL": phase.database_cpu_ms_per_request}
    total = sum(parts.values())
    ranked = ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(parts.items(), key=lambda item: -item[1]))
    cores = total * phase.overall.throughput_rps / 1000
    return (f"{total:.2f} ms in all: {ranked} (at {phase.overall.throughput_rps:.0f}/s, {cores:.2f} of the 2 cores; "
            "the broker's share is not counted)")  # fmt: skip


def _share(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline > 0 else "– (no baseline)"


def _phase(result: report.Report, target: str, clients: int) -> report.Phase | None:
    return next((p for p in result.phases if p.target == target and p.concurrency == clients), None)


def _summarise(result: report.Report, options: argparse.Namespace, took: dict[str, float], delays: list[float],
               png: Any, seconds: float) -> None:  # fmt: skip
    s = result.setup
    s["data"] = (
        f"{options.dossiers:,} dossiers generated in {took['dossiers']:.0f} s, {options.accounts:,} accounts in "
        f"{took['accounts']:.0f} s, {SERVICES} online services at {SERVICES} agencies"
    )
    s["processes"] = (
        f"gateway (1 worker), dossier API and its baseline ({options.dossier_workers} uvicorn "
        f"worker{'s' if options.dossier_workers > 1 else ''} each), dossier worker (relay + "
        "consumers), identity API, "
        "PostgreSQL 18 (fsync off), Tansu broker, the load generator: all on 2 cores"
    )
    subs = [p for p in result.phases if p.target == "submission via gateway"]
    bases = [p for p in result.phases if p.target == "baseline insert"]
    gated = [p for p in result.phases if p.target == "baseline insert via gateway"]
    best = max(subs, key=lambda p: p.overall.throughput_rps)
    best_base = max(bases, key=lambda p: p.overall.throughput_rps)
    best_gated = max(gated, key=lambda p: p.overall.throughput_rps)
    within = [p for p in subs if p.overall.p99_ms <= 150 and p.overall.errors == 0]
    top = max(within, key=lambda p: p.overall.throughput_rps) if within else None
    s["submission"] = (
        f"at most {best.overall.throughput_rps:.0f}/s ({best.concurrency} clients, p99 {best.overall.p99_ms} ms); "
        + (f"{top.overall.throughput_rps:.0f}/s with p99 {top.overall.p99_ms} ms ≤ 150 ({top.concurrency} clients)"
           if top else "no load level kept p99 ≤ 150 ms")
        + f"; baseline at most {best_base.overall.throughput_rps:.0f}/s straight to it (ratio "
        f"{_share(best.overall.throughput_rps, best_base.overall.throughput_rps)}) and "
        f"{best_gated.overall.throughput_rps:.0f}/s through the gateway with each citizen's token (ratio "
        f"{_share(best.overall.throughput_rps, best_gated.overall.throughput_rps)}); target ≥ 300/s, p99 < 150 ms, "
        "≥ 0.3 of the baseline"
    )  # fmt: skip
    s["submission CPU per request (at the best rate)"] = _split(best)
    via, direct = _phase(result, "read via gateway", 1), _phase(result, "read direct", 1)
    if via and direct:
        s["gateway overhead (1 client)"] = (
            f"p50 +{via.overall.p50_ms - direct.overall.p50_ms:.2f} ms, "
            f"p99 +{via.overall.p99_ms - direct.overall.p99_ms:.2f} ms (gateway p50 {via.overall.p50_ms}, "
            f"direct {direct.overall.p50_ms}; target ≤ 2 ms and ≤ 10 ms)"
        )  # fmt: skip
    s["event propagation at 100/s"] = (
        f"{len(delays)} events, commit → applied p50 {report.percentile(delays, 50):.0f} ms, p95 "
        f"{report.percentile(delays, 95):.0f} ms, p99 {report.percentile(delays, 99):.0f} ms (target p99 ≤ 500 ms); "
        "measured in PostgreSQL from the producing transaction's start to the consumer's claim"
    )  # fmt: skip
    own = _phase(result, "own dossiers via gateway", 8)
    if own:
        s["own dossiers (list)"] = (
            f"{own.overall.throughput_rps:.0f}/s, p95 {own.overall.p95_ms} ms, p99 {own.overall.p99_ms} ms: "
            f"{CITIZENS:,} citizens' tokens in turn, newest 20 of their dossiers among {options.dossiers:,}"
        )
    tokens = _phase(result, "client-credentials token via gateway", 8)
    if tokens:
        s["tokens"] = f"{tokens.overall.throughput_rps:.0f}/s, p99 {tokens.overall.p99_ms} ms (target ≥ 300/s)"
    s["plot"] = png.name
    s["total run"] = f"{seconds:.0f} s"
