"""The token endpoint's speed (``--scenario tokens``): client-credentials, refresh and
authorization-code grants through the gateway, next to a same-run baseline — a bare endpoint
signing one RS256 JWT with the identity service's own signing key, served the same way.

Each grant's figures: tokens a second, and the CPU per token of the identity API alone (its
uvicorn workers), of the gateway and of PostgreSQL. The authorization-code sign-in starts from a
browser session (the password form, whose argon2 cost is deliberate, is left out): the authorize
request with the session's cookie, its redirect's code, the code's exchange with PKCE.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import secrets
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from deploy.local.components import EmbeddedKafka, EmbeddedPostgres, free_port, stop_process
from deploy.local.stack import prepare_databases, prepare_topics

from . import report
from .run import cpu_seconds, measure, start_server

MACHINE = ("bench-province", "bench-province-secret-0123456789")
APP = ("bench-app", "bench-app-secret-0123456789abcdef")
APP_REDIRECT = "http://127.0.0.1:9/callback"
ACCOUNT = "bench-citizen"
# Refresh tokens made before the refresh phase: each works once, and the load generator's warm-up
# and measured requests must not run out of them (at 3,000/s for 2 + 10 s: 36,000).
REFRESH_POOL = 40_000
SIGN_INS = 2_000  # authorization-code sign-ins, 8 at a time
_failures: dict[str, int] = {}  # why sign-ins failed, for the report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--identity-workers", type=int, default=2,
                        help="uvicorn workers of the identity API and of its baseline (tokens scenario)")  # fmt: skip


async def _setup(identity_url: str) -> tuple[bytes, str]:
    """The clients and the person the phases use, made by identity's own use cases; the signing
    key (decrypted as identity does) written for the baseline to sign with."""
    from argon2 import PasswordHasher

    from services.identity.adapters.unit_of_work import transaction
    from services.identity.domain.oauth import ClientKind
    from services.identity.service.clients import create_client
    from services.identity.service.keys import signer
    from services.identity.settings import IdentitySettings
    from services.kit.db import Database

    db = Database(identity_url, source="identity", topic="identity.events")
    try:
        async with transaction(db) as uow:
            await create_client(uow, client_id=MACHINE[0], name="Bench province", kind=ClientKind.CONFIDENTIAL,
                                grant_types=["client_credentials"], allowed_scopes=["sync:push"],
                                agencies=["000.00.00.H01"], secret=MACHINE[1])  # fmt: skip
            await create_client(uow, client_id=APP[0], name="Bench app", kind=ClientKind.CONFIDENTIAL,
                                grant_types=["authorization_code", "refresh_token"], redirect_uris=[APP_REDIRECT],
                                allowed_scopes=["openid", "profile", "dossier:read"], secret=APP[1])  # fmt: skip
            key = await signer(uow, IdentitySettings(), datetime.now(UTC))
    finally:
        await db.dispose()
    conn = await asyncpg.connect(identity_url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "INSERT INTO accounts (id, kind, status, name, personal_id, phone, phone_verified, password_hash) "
            "VALUES ($1, 'citizen', 'active', 'Công dân', '001099000001', '+84900000001', true, $2)",
            ACCOUNT, PasswordHasher().hash("Bench-Account-2025"),
        )  # fmt: skip
    finally:
        await conn.close()
    return key.private_pem, key.kid


async def _refresh_tokens(identity_url: str, count: int) -> list[str]:
    """``count`` refresh tokens of the person, each of its own family (as ``count`` sign-ins would
    leave them), copied in; their hashes as identity stores them."""
    from services.identity.adapters.oauth import digest

    now = datetime.now(UTC)
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    rows: list[tuple[Any, ...]] = [
        (digest(t), uuid.uuid4().hex, APP[0], ACCOUNT, "openid profile dossier:read", "urn:portal:acr:password",
         ["pwd"], now, [], None, now + timedelta(days=1))
        for t in tokens
    ]  # fmt: skip
    conn = await asyncpg.connect(identity_url.replace("+asyncpg", ""))
    try:
        await conn.copy_records_to_table(
            "refresh_tokens", records=rows,
            columns=["token_hash", "family_id", "client_id", "account_id", "scope", "acr", "amr", "auth_time",
                     "agencies", "code_hash", "expires_at"],
        )  # fmt: skip
        await conn.execute("ANALYZE refresh_tokens")
    finally:
        await conn.close()
    return tokens


async def _session_cookie(identity_url: str) -> str:
    """A browser session of the person, as a password sign-in leaves it."""
    from services.identity.adapters.unit_of_work import transaction
    from services.identity.domain.assurance import AccountKind, Assurance, SignedIn
    from services.identity.service.authorize import start_session
    from services.identity.settings import IdentitySettings
    from services.kit.db import Database

    db = Database(identity_url, source="identity", topic="identity.events")
    now = datetime.now(UTC)
    try:
        async with transaction(db) as uow:
            signed_in = SignedIn(ACCOUNT, AccountKind.CITIZEN, Assurance.PASSWORD, ("pwd",), now)
            return await start_session(uow, IdentitySettings(), signed_in, now)
    finally:
        await db.dispose()


async def _sign_ins(issuer: str, cookie: str, count: int, concurrency: int) -> dict[str, Any]:
    """``count`` authorization-code sign-ins from a session, ``concurrency`` at a time: the
    authorize request, then the code's exchange. Latency of each whole sign-in."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    basic = base64.b64encode(f"{APP[0]}:{APP[1]}".encode()).decode()
    left = count

    async def one(client: httpx.AsyncClient) -> None:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        begin = time.perf_counter()
        answer = await client.get("/oauth2/authorize", params={
            "client_id": APP[0], "redirect_uri": APP_REDIRECT, "response_type": "code", "scope": "openid dossier:read",
            "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
        code = parse_qs(urlsplit(answer.headers.get("location", "")).query).get("code", [""])[0]
        if answer.status_code not in (302, 303) or not code:
            failures[f"authorize {answer.status_code}"] = failures.get(f"authorize {answer.status_code}", 0) + 1
            return
        token = await client.post("/oauth2/token", headers={"Authorization": f"Basic {basic}"}, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": APP_REDIRECT,
            "code_verifier": verifier})  # fmt: skip
        if token.status_code != 200:
            failures[f"token {token.status_code}"] = failures.get(f"token {token.status_code}", 0) + 1
            return
        latencies.append((time.perf_counter() - begin) * 1000)

    async def runner() -> None:
        nonlocal left
        async with httpx.AsyncClient(base_url=issuer, cookies={"portal_session": cookie}, timeout=30) as client:
            while left > 0:
                left -= 1
                await one(client)

    started = time.monotonic()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return {"seconds": time.monotonic() - started, "latencies_ms": latencies, "failures": failures}


def run_tokens(options: argparse.Namespace) -> report.Report:
    workdir = options.out / "tokens"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    started = time.monotonic()
    postgres = EmbeddedPostgres(workdir / "postgres", free_port(), fast=True)
    kafka = EmbeddedKafka(free_port(), log_path=workdir / "kafka.log")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    result = report.Report("The token endpoint", {})
    workers = str(options.identity_workers)
    try:
        postgres.start()
        kafka.start()
        assert postgres.proc is not None
        urls = asyncio.run(prepare_databases(postgres.url(), prefix="bench", services=("identity",)))
        asyncio.run(prepare_topics(kafka.bootstrap, partitions=6))
        ports = {name: free_port() for name in ("gateway", "identity", "baseline", "baseline gateway")}
        issuer = f"http://127.0.0.1:{ports['gateway']}"
        key_file = workdir / "signing.pem"
        env = {"PORTAL_ENVIRONMENT": "development", "PORTAL_LOG_LEVEL": "WARNING", "KAFKA_BOOTSTRAP_SERVERS":
               kafka.bootstrap, "PORTAL_OIDC_ISSUER": issuer, "PORTAL_OIDC_JWKS_URL": f"{issuer}/oauth2/jwks",
               "IDENTITY_DATABASE_URL": urls["identity"], "IDENTITY_PORT": str(ports["identity"]),
               "GATEWAY_PORT": str(ports["gateway"]), "GATEWAY_IDENTITY_URL": f"http://127.0.0.1:{ports['identity']}",
               "GATEWAY_RATE_LIMIT_PER_MINUTE": "0", "BENCH_DATABASE_URL": urls["identity"].replace("+asyncpg", ""),
               "BENCH_SIGNING_KEY_FILE": str(key_file), "BENCH_ISSUER": issuer}  # fmt: skip
        log = workdir / "processes.log"
        procs["identity api"] = start_server(["-m", "services.identity", "api", "--workers", workers], env,
                                             ports["identity"], log)  # fmt: skip
        procs["gateway"] = start_server(["-m", "gateway"], env, ports["gateway"], log)
        pem, kid = asyncio.run(_setup(urls["identity"]))
        key_file.write_bytes(pem)
        key_file.with_suffix(".kid").write_text(kid)
        # The baseline: served like identity (the same workers), behind the same gateway program.
        procs["baseline"] = start_server(["-m", "bench.baseline", "--port", str(ports["baseline"]), "--workers",
                                          workers], env, ports["baseline"], log)  # fmt: skip
        baseline_env = {**env, "GATEWAY_PORT": str(ports["baseline gateway"]),
                        "GATEWAY_IDENTITY_URL": f"http://127.0.0.1:{ports['baseline']}"}  # fmt: skip
        procs["baseline gateway"] = start_server(["-m", "gateway"], baseline_env, ports["baseline gateway"], log)
        db_pid = postgres.proc.pid
        machine = {"Authorization": "Basic " + base64.b64encode(f"{MACHINE[0]}:{MACHINE[1]}".encode()).decode()}
        grant = [["token", "/oauth2/token", "POST", {"grant_type": "client_credentials"}, "form"]]
        clients = 8
        print("baseline: one RS256 JWT signed by a bare endpoint, straight and through the gateway ...", flush=True)
        result.phases.append(measure("baseline sign", f"http://127.0.0.1:{ports['baseline']}", grant,
                                     {"baseline": procs["baseline"].pid}, db_pid, clients, options,
                                     headers=machine))  # fmt: skip
        result.phases.append(measure("baseline sign via gateway", f"http://127.0.0.1:{ports['baseline gateway']}",
                                     grant, {"baseline": procs["baseline"].pid,
                                             "gateway": procs["baseline gateway"].pid}, db_pid, clients, options,
                                     headers=machine))  # fmt: skip
        stop_process(procs.pop("baseline gateway"))
        stop_process(procs.pop("baseline"))
        identity = {"identity api": procs["identity api"].pid}
        both = {**identity, "gateway": procs["gateway"].pid}
        print("client-credentials tokens, straight and through the gateway ...", flush=True)
        result.phases.append(measure("client credentials", f"http://127.0.0.1:{ports['identity']}", grant, identity,
                                     db_pid, clients, options, headers=machine))  # fmt: skip
        result.phases.append(measure("client credentials via gateway", issuer, grant, both, db_pid, clients, options,
                                     headers=machine))  # fmt: skip
        print(f"refresh grants ({REFRESH_POOL:,} refresh tokens made first) ...", flush=True)
        refresh_tokens = asyncio.run(_refresh_tokens(urls["identity"], REFRESH_POOL))
        app = {"Authorization": "Basic " + base64.b64encode(f"{APP[0]}:{APP[1]}".encode()).decode()}
        plan = [["refresh", "/oauth2/token", "POST", {"grant_type": "refresh_token", "refresh_token": token}, "form"]
                for token in refresh_tokens]  # fmt: skip
        capped = argparse.Namespace(**{**vars(options), "max_requests": min(options.max_requests, REFRESH_POOL // 2)})
        result.phases.append(measure("refresh via gateway", issuer, plan, both, db_pid, clients, capped,
                                     headers=app))  # fmt: skip
        print(f"authorization-code sign-ins from a session ({SIGN_INS:,}, 8 at a time) ...", flush=True)
        cookie = asyncio.run(_session_cookie(urls["identity"]))
        before = {name: cpu_seconds(pid) for name, pid in both.items()}
        db_before = cpu_seconds(db_pid)
        flows = asyncio.run(_sign_ins(issuer, cookie, SIGN_INS, 8))
        _failures.update(flows["failures"])
        done = max(1, len(flows["latencies_ms"]))
        per_flow = {name: round((cpu_seconds(pid) - before[name]) * 1000 / done, 3) for name, pid in both.items()}
        figures = report.figures(flows["latencies_ms"], sum(flows["failures"].values()), flows["seconds"])
        result.phases.append(report.Phase("authorization-code sign-in via gateway", 8, round(flows["seconds"], 1),
                                          figures, {}, round(sum(per_flow.values()), 3),
                                          round((cpu_seconds(db_pid) - db_before) * 1000 / done, 3),
                                          per_flow))  # fmt: skip
    finally:
        for proc in procs.values():
            stop_process(proc)
        kafka.stop()
        postgres.destroy()
    _summarise(result, options, time.monotonic() - started)
    return result


def _phase(result: report.Report, target: str) -> report.Phase:
    return next(p for p in result.phases if p.target == target)


def _cpu(phase: report.Phase, name: str) -> float:
    return phase.cpu_ms_per_request_by_process.get(name, 0.0)


def _summarise(result: report.Report, options: argparse.Namespace, seconds: float) -> None:
    s = result.setup
    s["processes"] = (
        f"identity API and the baseline with {options.identity_workers} uvicorn workers each, the gateway (1 "
        "process), PostgreSQL (fsync off), the load generator (8 clients): all on 2 cores"
    )
    base, base_gw = _phase(result, "baseline sign"), _phase(result, "baseline sign via gateway")
    cc, cc_gw = _phase(result, "client credentials"), _phase(result, "client credentials via gateway")
    refresh, flow = _phase(result, "refresh via gateway"), _phase(result, "authorization-code sign-in via gateway")
    s["baseline"] = (
        f"a bare endpoint signing one RS256 JWT with identity's key: {base.overall.throughput_rps:.0f}/s straight "
        f"({_cpu(base, 'baseline'):.3f} ms CPU a token), {base_gw.overall.throughput_rps:.0f}/s through the gateway "
        f"(gateway {_cpu(base_gw, 'gateway'):.3f} ms a request)"
    )
    s["client credentials"] = (
        f"{cc.overall.throughput_rps:.0f}/s straight, identity {_cpu(cc, 'identity api'):.3f} ms CPU a token "
        f"(baseline ratio {report.ratio(_cpu(cc, 'identity api'), _cpu(base, 'baseline'))}), PostgreSQL "
        f"{cc.database_cpu_ms_per_request:.3f} ms; through the gateway {cc_gw.overall.throughput_rps:.0f}/s "
        f"(baseline through the gateway {base_gw.overall.throughput_rps:.0f}/s), p99 {cc_gw.overall.p99_ms} ms, "
        f"{cc_gw.overall.errors} errors; targets ≤ 0.6 ms CPU a token in identity, ≥ 2,000/s through the edge"
    )
    s["refresh"] = (
        f"{refresh.overall.throughput_rps:.0f}/s through the gateway, identity {_cpu(refresh, 'identity api'):.3f} ms "
        f"CPU a grant, PostgreSQL {refresh.database_cpu_ms_per_request:.3f} ms, p99 {refresh.overall.p99_ms} ms, "
        f"{refresh.overall.errors} errors; target ≥ 1,000/s"
    )
    s["authorization-code sign-in"] = (
        f"{flow.overall.throughput_rps:.0f}/s from a session (authorize + code exchange), identity "
        f"{_cpu(flow, 'identity api'):.3f} ms CPU a sign-in, p50 {flow.overall.p50_ms} ms, p99 {flow.overall.p99_ms} "
        f"ms, {flow.overall.errors} failed (the password form's argon2 left out)"
    )
    if _failures:
        s["sign-in failures"] = ", ".join(f"{n}× {why}" for why, n in sorted(_failures.items()))
    s["total run"] = f"{seconds:.0f} s"
