"""Status ingest at volume, end to end: an agency client pushes batches of 500 records through
the gateway to the sync service; the sync worker relays them over the broker; the dossier
worker applies them (here: mirrored dossiers, created on first sight). Measured: records
accepted per second at the API, records applied in the dossier database per second (from the
first push to the last row), per-batch latency, CPU of every process, and that the counts
reconcile (pushed = accepted = applied, nothing lost). Baseline in the same run: the same rows
written straight into PostgreSQL with one multi-row INSERT per batch (the database's ceiling).

Everything runs on loopback in its own PostgreSQL and broker, bounded in records and time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.local.components import (
    EmbeddedKafka,
    EmbeddedPostgres,
    free_port,
    serve,
    stop_process,
)
from deploy.local.stack import prepare_databases, prepare_topics
from services.kit.jose import ACCESS_TOKEN_TYPE, generate_rsa, sign_pem

from . import report
from .run import cpu_seconds, start_server

AGENCY = "000.00.01.H22"
BATCH = 500


def jwks_app(public: dict[str, Any]) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [public]}

    return app


def records(start: int, count: int, at: datetime) -> list[dict[str, Any]]:
    """Status records of dossiers filed at the agency's desk (mirrored on first sight)."""
    return [
        {"record_id": f"bench-{start + i}", "dossier_code": f"{AGENCY}-251203-{start + i:06d}", "agency_code": AGENCY,
         "status": 4, "occurred_at": (at + timedelta(milliseconds=i)).isoformat(), "note": "Đang xử lý",
         "dossier": {"procedure_code": "1.002804", "procedure_name": "Cấp đổi giấy phép lái xe",
                     "applicant_kind": "citizen", "applicant_identifier": f"{36090000000 + start + i:012d}",
                     "applicant_name": "Người nộp"}}
        for i in range(count)
    ]  # fmt: skip


async def baseline(database_url: str, total: int) -> dict[str, float]:
    """The same rows, one multi-row INSERT per batch of 500, straight into a table."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE bench_rows (code text primary key, status int, data jsonb)")
        started = time.perf_counter()
        for start in range(0, total, BATCH):
            rows = [(r["dossier_code"], r["status"], json.dumps(r)) for r in records(start, BATCH, datetime.now(UTC))]
            await conn.executemany("INSERT INTO bench_rows VALUES ($1, $2, $3::jsonb)", rows)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"seconds": seconds, "rows_per_s": total / seconds}


async def drive(
    gateway: str, token: str, total: int, clients: int, dossier_url: str, deadline_s: float
) -> dict[str, Any]:
    latencies, outcomes = [], {"accepted": 0, "duplicate": 0, "stale": 0, "rejected": 0}
    starts = list(range(0, total, BATCH))
    at = datetime.now(UTC)
    headers = {"Authorization": f"Bearer {token}"}
    progress: list[tuple[float, int]] = []  # (seconds since the first push, records applied)
    conn = await asyncpg.connect(dossier_url)
    started = time.perf_counter()

    async def applied_now() -> int:
        count = int(await conn.fetchval("SELECT count(*) FROM dossiers WHERE origin = 'mirrored'")) - BATCH
        progress.append((time.perf_counter() - started, count))
        return count

    async def watch(done: asyncio.Event) -> None:
        while not done.is_set():
            await applied_now()
            await asyncio.sleep(0.25)

    async with httpx.AsyncClient(base_url=gateway, timeout=60, headers=headers) as client:
        # Warm-up, not measured: one batch through the whole path, so that every process has
        # connected and the dossier worker has joined its consumer group before the clock starts.
        warm = await client.post("/api/v1/sync/records", json={"records": records(total, BATCH, at)})
        warm.raise_for_status()
        while int(await conn.fetchval("SELECT count(*) FROM dossiers WHERE origin = 'mirrored'")) < BATCH:
            if time.perf_counter() - started > deadline_s:
                raise RuntimeError("the warm-up batch was never applied")
            await asyncio.sleep(0.1)
    started = time.perf_counter()
    pushed = asyncio.Event()
    watcher = asyncio.create_task(watch(pushed))
    async with httpx.AsyncClient(base_url=gateway, timeout=60, headers=headers) as client:

        async def worker() -> None:
            while starts:
                start = starts.pop(0)
                begin = time.perf_counter()
                answer = await client.post("/api/v1/sync/records", json={"records": records(start, BATCH, at)})
                latencies.append((time.perf_counter() - begin) * 1000)
                answer.raise_for_status()
                for key, value in answer.json()["summary"].items():
                    outcomes[key] += value

        await asyncio.gather(*(worker() for _ in range(clients)))
    pushed_s = time.perf_counter() - started
    pushed.set()
    await watcher
    applied = 0
    try:
        while time.perf_counter() - started < deadline_s:
            applied = await applied_now()
            if applied >= total:
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    during = max((n for t, n in progress if t <= pushed_s), default=0)
    return {"latencies_ms": latencies, "outcomes": outcomes, "pushed_seconds": pushed_s,
            "applied": applied, "applied_seconds": time.perf_counter() - started,
            "applied_while_pushing": during}  # fmt: skip


def run_ingest(out: Path, total: int, clients: int, deadline_s: float) -> report.Report:
    import shutil

    workdir = out / "ingest"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    postgres = EmbeddedPostgres(workdir / "postgres", free_port(), fast=True)
    kafka = EmbeddedKafka(free_port(), log_path=workdir / "kafka.log")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    kid = "bench-key"
    pem, public = generate_rsa(2048, kid)
    try:
        postgres.start()
        kafka.start()
        urls = asyncio.run(prepare_databases(postgres.url(), prefix="bench", services=("sync", "dossier")))
        asyncio.run(prepare_topics(kafka.bootstrap, partitions=6))
        with serve(jwks_app(public)) as jwks_base:
            gateway_port, sync_port = free_port(), free_port()
            issuer = f"http://127.0.0.1:{gateway_port}"
            env = {"PORTAL_ENVIRONMENT": "development", "PORTAL_LOG_LEVEL": "WARNING", "KAFKA_BOOTSTRAP_SERVERS":
                   kafka.bootstrap, "PORTAL_OIDC_ISSUER": issuer, "PORTAL_OIDC_JWKS_URL": f"{jwks_base}/jwks",
                   "SYNC_DATABASE_URL": urls["sync"], "DOSSIER_DATABASE_URL": urls["dossier"],
                   "SYNC_PORT": str(sync_port), "SYNC_PUSH_RATE_PER_MINUTE": "100000", "SYNC_PUSH_BURST": "1000",
                   "SYNC_OUTBOX_POLL_SECONDS": "0.2", "SYNC_OUTBOX_BATCH_SIZE": "1000",
                   "GATEWAY_PORT": str(gateway_port),
                   "GATEWAY_SYNC_URL": f"http://127.0.0.1:{sync_port}",
                   "GATEWAY_RATE_LIMIT_PER_MINUTE": "0"}  # fmt: skip
            log = workdir / "processes.log"
            procs["sync api"] = start_server(["-m", "services.sync", "api"], env, sync_port, log)
            procs["sync worker"] = start_server(["-m", "services.sync", "worker"], env, None, log)
            procs["dossier worker"] = start_server(["-m", "services.dossier", "worker"], env, None, log)
            procs["gateway"] = start_server(["-m", "gateway"], env, gateway_port, log)
            now = int(time.time())
            claims = {"iss": issuer, "aud": "sync", "sub": "bench-agency", "client_id": "bench-agency",
                      "scope": "sync:push", "agencies": [AGENCY], "iat": now, "exp": now + 3600}  # fmt: skip
            token = sign_pem(claims, pem, kid, typ=ACCESS_TOKEN_TYPE)
            cpu_before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
            db_before = cpu_seconds(postgres.proc.pid) if postgres.proc else 0.0
            print(f"pushing {total} records in batches of {BATCH} with {clients} clients ...", flush=True)
            result = asyncio.run(drive(issuer, token, total, clients, urls["dossier"].replace("+asyncpg", ""),
                                       deadline_s))  # fmt: skip
            cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in procs.items()}
            db_cpu = (cpu_seconds(postgres.proc.pid) if postgres.proc else 0.0) - db_before
        print("baseline: the same rows straight into PostgreSQL ...", flush=True)
        base = asyncio.run(baseline(urls["dossier"].replace("+asyncpg", ""), total))
    finally:
        for proc in procs.values():
            stop_process(proc)
        kafka.stop()
        postgres.destroy()

    lat = result["latencies_ms"]
    accepted_rate = result["outcomes"]["accepted"] / result["pushed_seconds"]
    applied_rate = result["applied"] / result["applied_seconds"]
    lost = total - result["applied"]
    run = report.Report(
        "Status ingest end to end",
        {
            "records": f"{total} status records of dossiers filed at an agency's desk, batches of {BATCH}, "
            f"{clients} clients through the gateway",
            "path": "gateway → sync API (parse, dedupe, order, outbox) → broker → dossier worker (mirror, timeline, "
            "outbox)",
            "baseline": "the same rows, one multi-row INSERT per batch straight into PostgreSQL",
        },
    )
    run.setup["results"] = (
        f"accepted {result['outcomes']['accepted']} ({result['outcomes']}); applied {result['applied']}; lost {lost}"
    )
    run.setup["accepted at the API"] = f"{accepted_rate:.0f} records/s (batch p50 {report.percentile(lat, 50):.0f} ms, "
    run.setup["accepted at the API"] += (
        f"p95 {report.percentile(lat, 95):.0f} ms, p99 {report.percentile(lat, 99):.0f} ms)"
    )
    run.setup["applied in the dossier database"] = (
        f"{applied_rate:.0f} records/s end to end ({result['applied_while_pushing']} applied by the time the last "
        f"batch was answered at {result['pushed_seconds']:.1f} s; all by {result['applied_seconds']:.1f} s)"
    )
    run.setup["baseline"] += f": {base['rows_per_s']:.0f} rows/s"
    run.setup["applied / baseline"] = f"{applied_rate / base['rows_per_s']:.2f}"
    per = max(1, result["applied"])
    run.setup["CPU per record (ms)"] = ", ".join(f"{name} {1000 * c / per:.2f}" for name, c in cpu.items())
    run.setup["CPU per record (ms)"] += f", PostgreSQL {1000 * db_cpu / per:.2f}"
    return run
