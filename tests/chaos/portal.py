"""The portal as processes, for the chaos runs: its own PostgreSQL and broker in a temporary
folder, the dossier, payment and sync services (each API and each worker a process of its own,
started as ``make run`` starts them), the gateway, the sandbox bank, and a fault proxy process
(``tests.support.faultproxy``) standing between every service and PostgreSQL and between the
gateway and every service. Tokens are signed with a key of this run, published by a JWKS served
here, which every service and the gateway trust. Everything listens on loopback, on free ports.

What the faults need is here too: kill and start a service's processes, kill the broker and
start it again empty, replay the services' outboxes, restart PostgreSQL, spoil a proxied link.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.ingest import jwks_app
from deploy.local.components import (
    EmbeddedKafka,
    EmbeddedPostgres,
    die_with_parent,
    free_port,
    port_open,
    serve,
    stop_process,
    wait_until,
)
from deploy.local.stack import prepare_databases, prepare_topics
from services.kit.jose import ACCESS_TOKEN_TYPE, generate_rsa, sign_pem
from tests.support.faultproxy import FaultProxyClient

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("dossier", "payment", "sync")
AGENCY = "000.00.01.H22"
KID = "chaos-key"
VNPAY_SECRET = "chaos-vnpay-hash-secret"
TMN_CODE = "CHAOS001"
FEE = 135_000
SERVICE_ID = str(uuid.UUID(int=0xC4A05))
CITIZENS = 40
# The gateway gives up on a silent service after this long (504), well inside a client's timeout.
GATEWAY_UPSTREAM_TIMEOUT = 5.0
GATEWAY_RETRY_AFTER = 1


def online_service() -> dict[str, Any]:
    """``catalogue.online_service.published.v1`` of the one service the load files for: no
    required documents (a submission is one request), one fee, a form with the load's reference."""
    fee = {"code": "LP01", "name": "Lệ phí cấp đổi", "amount": FEE, "currency": "VND", "condition": None}
    return {
        "revision": 1, "service_id": SERVICE_ID, "version": 1,
        "procedure": {
            "code": "1.002804", "name": "Cấp đổi giấy phép lái xe", "sector_code": "DB", "sector_name": "Đường bộ",
            "level": "province", "steps": ["Nộp hồ sơ trực tuyến", "Tiếp nhận", "Trả kết quả"],
            "documents": [{"code": "TP01", "name": "Đơn đề nghị", "copies": 1, "required": False, "template": None}],
            "processing_days": 5, "fees": [fee], "legal_basis": ["Thông tư 35/2024/TT-BGTVT"],
            "results": ["Giấy phép lái xe"],
        },
        "agency": {"code": AGENCY, "name": "Sở Xây dựng tỉnh Quảng Ninh", "province_code": "H22"},
        "online_level": "full",
        "form_schema": {"type": "object", "additionalProperties": False, "required": ["ho_ten", "tham_chieu"],
                        "properties": {"ho_ten": {"type": "string", "minLength": 1, "maxLength": 100},
                                       "tham_chieu": {"type": "string", "minLength": 1, "maxLength": 64}}},
        "fees": [fee], "processing_days": 5, "routing_target": "one-stop/h22",
        "published_at": datetime(2025, 1, 1, tzinfo=UTC).isoformat(),
    }  # fmt: skip


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process (``VmRSS`` in ``/proc/<pid>/status``), KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *self.args], env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGKILL), start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def kill(self) -> None:
        """SIGKILL: no shutdown, as a crash or the OOM killer would end it."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, 5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, 8)


@dataclass
class ChaosPortal:
    workdir: Path
    pg_port: int = field(default_factory=free_port)
    kafka_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    bank_port: int = field(default_factory=free_port)
    proxy_control_port: int = field(default_factory=free_port)
    service_ports: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in SERVICES})

    def __post_init__(self) -> None:
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(self.workdir / "postgres", self.pg_port)
        self.kafka = EmbeddedKafka(self.kafka_port, log_path=self.logs / "kafka.log")
        self.kafka_starts = 0
        self.processes: dict[str, Process] = {}
        self.db_urls: dict[str, str] = {}  # straight to PostgreSQL: for the audit and the operator's replay
        self.proxies: FaultProxyClient | None = None
        self.proxy_process: Process | None = None
        self._exit = ExitStack()
        # Every child is started from this one thread, which lives as long as the portal: a child
        # is told to die with the thread that started it (PR_SET_PDEATHSIG), not with the process.
        self.control = ThreadPoolExecutor(1, thread_name_prefix="chaos-control")
        self.pem, self.public = generate_rsa(2048, KID)
        self.started_at = datetime.now(UTC)

    # --- addresses and credentials ---------------------------------------------------------

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def bank(self) -> str:
        return f"http://127.0.0.1:{self.bank_port}"

    def token(self, sub: str, scope: str, aud: str | list[str], **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.gateway, "aud": aud, "sub": sub, "scope": scope, "iat": now, "exp": now + 6 * 3600,
                "jti": uuid.uuid4().hex, **claims}  # fmt: skip
        return sign_pem(body, self.pem, KID, typ=ACCESS_TOKEN_TYPE)

    def citizen_tokens(self) -> list[str]:
        return [self.token(f"chaos-citizen-{i}", "dossier:submit dossier:read payment:pay", ["dossier", "payment"])
                for i in range(CITIZENS)]  # fmt: skip

    def agency_token(self) -> str:
        return self.token("chaos-agency", "sync:push", "sync", client_id="chaos-agency", agencies=[AGENCY])

    # --- start and stop --------------------------------------------------------------------

    def call(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run ``action`` on the control thread and wait for it."""
        return self.control.submit(action, *args).result()

    async def do(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run ``action`` on the control thread without stopping the caller's event loop."""
        return await asyncio.wrap_future(self.control.submit(action, *args))

    def start(self) -> None:
        try:
            self.call(self._start)
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.postgres.start()
        self.start_kafka()
        urls = asyncio.run(prepare_databases(self.postgres.url(), prefix="chaos", services=SERVICES))
        self.db_urls = {name: url.replace("+asyncpg", "") for name, url in urls.items()}
        asyncio.run(self._seed(urls["dossier"]))
        jwks_base = self._exit.enter_context(serve(jwks_app(self.public)))
        # The fault proxies: every service's database link and every gateway-to-service link.
        self.proxy_process = Process("faultproxy", ["-m", "tests.support.faultproxy", "--port",
                                     str(self.proxy_control_port)], self._base_env(), self.logs / "faultproxy.log",
                                     self.proxy_control_port)  # fmt: skip
        self.proxy_process.start()
        wait_until(lambda: port_open("127.0.0.1", self.proxy_control_port), 30, "fault proxy", self.proxy_process.proc)
        self.proxies = FaultProxyClient(f"http://127.0.0.1:{self.proxy_control_port}")
        proxied_db = {name: self.proxies.create(f"db-{name}", f"127.0.0.1:{self.pg_port}") for name in SERVICES}
        proxied_api = {name: self.proxies.create(f"api-{name}", f"127.0.0.1:{self.service_ports[name]}")
                       for name in SERVICES}  # fmt: skip
        env = self._base_env()
        env |= {"PORTAL_OIDC_ISSUER": self.gateway, "PORTAL_OIDC_JWKS_URL": f"{jwks_base}/jwks",
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
                "DOSSIER_STORAGE_DIR": str(self.workdir / "dossier-files"),
                "PAYMENT_VNPAY_HASH_SECRET": VNPAY_SECRET, "PAYMENT_VNPAY_TMN_CODE": TMN_CODE,
                "PAYMENT_VNPAY_PAY_URL": f"{self.bank}/vnpay/pay",
                "PAYMENT_VNPAY_API_URL": f"{self.bank}/merchant_webapi/api/transaction",
                "SYNC_PUSH_RATE_PER_MINUTE": "1000000", "SYNC_PUSH_BURST": "10000"}  # fmt: skip
        for name in SERVICES:
            user_db = self.db_urls[name].replace(f"127.0.0.1:{self.pg_port}", proxied_db[name])
            env |= {f"{name.upper()}_DATABASE_URL": user_db, f"{name.upper()}_PORT": str(self.service_ports[name]),
                    f"{name.upper()}_OUTBOX_POLL_SECONDS": "0.2"}  # fmt: skip
        unused = f"http://127.0.0.1:{free_port()}"  # identity and catalogue do not run here
        gateway_env = env | {
            "GATEWAY_PORT": str(self.gateway_port), "GATEWAY_RATE_LIMIT_PER_MINUTE": "0",
            "GATEWAY_UPSTREAM_TIMEOUT_SECONDS": str(GATEWAY_UPSTREAM_TIMEOUT),
            "GATEWAY_RETRY_AFTER_SECONDS": str(GATEWAY_RETRY_AFTER),
            "GATEWAY_IDENTITY_URL": unused, "GATEWAY_CATALOGUE_URL": unused,
            **{f"GATEWAY_{name.upper()}_URL": f"http://{proxied_api[name]}" for name in SERVICES},
        }  # fmt: skip
        bank_env = env | {
            "SANDBOX_BANK_PORT": str(self.bank_port), "SANDBOX_BANK_TMN_CODE": TMN_CODE,
            "SANDBOX_BANK_VNPAY_HASH_SECRET": VNPAY_SECRET,
            "SANDBOX_BANK_IPN_URL": f"{self.gateway}/api/v1/payment/callbacks/vnpay/ipn",
            # Like VNPay, the bank calls the IPN again until the portal answers.
            "SANDBOX_BANK_IPN_ATTEMPTS": "40", "SANDBOX_BANK_IPN_RETRY_SECONDS": "0.5",
            "SANDBOX_BANK_IPN_TIMEOUT_SECONDS": "15",
        }  # fmt: skip
        for name in SERVICES:
            self.processes[name] = Process(name, ["-m", f"services.{name}", "api"], env, self.logs / f"{name}.log",
                                           self.service_ports[name])  # fmt: skip
            self.processes[f"{name}-worker"] = Process(f"{name}-worker", ["-m", f"services.{name}", "worker"], env,
                                                       self.logs / f"{name}-worker.log")  # fmt: skip
        self.processes["gateway"] = Process("gateway", ["-m", "gateway"], gateway_env, self.logs / "gateway.log",
                                            self.gateway_port)  # fmt: skip
        self.processes["bank"] = Process("bank", ["-m", "deploy.sandbox.bank"], bank_env, self.logs / "bank.log",
                                         self.bank_port)  # fmt: skip
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            self.wait_serving(process)
        self.wait_ready()

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "KAFKA_", "GATEWAY_", "SANDBOX_"))}
        env |= {"PYTHONPATH": str(ROOT), "PORTAL_ENVIRONMENT": "development", "PORTAL_LOG_LEVEL": "WARNING"}
        for name in SERVICES:
            env = {k: v for k, v in env.items() if not k.startswith(f"{name.upper()}_")}
        return env

    async def _seed(self, dossier_url: str) -> None:
        from services.dossier.service import catalogue_view
        from tests.support.dossier import dossier_database

        db = dossier_database(dossier_url, pool_size=1)
        try:
            async with db.transaction() as uow:
                await catalogue_view.apply_service_published(uow, online_service())
        finally:
            await db.dispose()

    def wait_serving(self, process: Process, timeout: float = 60) -> None:
        if process.port is not None:
            wait_until(lambda: port_open("127.0.0.1", process.port or 0), timeout,
                       f"{process.name} (log: {process.log})", process.proc)  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        """Every service ready (its database and the broker) and the gateway forwarding."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=3, trust_env=False) as client:
            for name in SERVICES:
                while True:
                    try:
                        if client.get(f"http://127.0.0.1:{self.service_ports[name]}/readyz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} not ready (log: {self.logs / name}.log)")
                    time.sleep(0.2)

    def stop(self) -> None:
        self.call(self._stop)
        self.control.shutdown()

    def _stop(self) -> None:
        for process in self.processes.values():
            if process.proc and process.proc.poll() is None:
                process.proc.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.stop()
        if self.proxies is not None:
            self.proxies.close()
        if self.proxy_process is not None:
            self.proxy_process.stop()
        self._exit.close()
        self.kafka.stop(timeout=2)
        self.postgres.stop(timeout=10)

    # --- faults ----------------------------------------------------------------------------

    def start_kafka(self) -> None:
        """The broker, empty (memory storage: nothing survives a restart), and the topics."""
        self.kafka = EmbeddedKafka(self.kafka_port, log_path=self.logs / "kafka.log")
        self.kafka.start()
        self.kafka_starts += 1
        asyncio.run(prepare_topics(self.kafka.bootstrap, partitions=6))

    def kill_kafka(self) -> None:
        self.kafka.kill()

    def replay(self, since: datetime) -> dict[str, int]:
        """What an operator runs after the broker lost everything: each service's ``replay``
        (all at once: each marks its own outbox; their start-up is most of their time)."""
        running = {}
        for name in SERVICES:
            env = self._base_env() | {f"{name.upper()}_DATABASE_URL": self.db_urls[name],
                                      "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap}  # fmt: skip
            running[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}", "replay", "--since", since.isoformat()],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
        marked = {}
        try:
            for name, proc in running.items():
                out, err = proc.communicate(timeout=60)
                if proc.returncode != 0:
                    raise subprocess.CalledProcessError(proc.returncode, proc.args, out, err)
                marked[name] = int(out.split()[0])
        finally:
            for proc in running.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return marked

    def kill_service(self, name: str) -> None:
        """SIGKILL the service's API and its worker (relay and consumers) at once."""
        for process in (self.processes[name], self.processes[f"{name}-worker"]):
            process.kill()

    def start_service(self, name: str) -> None:
        for process in (self.processes[name], self.processes[f"{name}-worker"]):
            process.start()
        self.wait_serving(self.processes[name])

    def restart_postgres(self, down_seconds: float = 0.0) -> None:
        """Fast shutdown (SIGINT), then start again on the same data and port."""
        self.postgres.stop(timeout=30)
        time.sleep(down_seconds)
        self.postgres.start()

    # --- observation -----------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        found = {name: p.pid for name, p in self.processes.items() if p.pid}
        if self.proxy_process and self.proxy_process.pid:
            found["faultproxy"] = self.proxy_process.pid
        if self.postgres.proc and self.postgres.proc.poll() is None:
            found["postgres"] = self.postgres.proc.pid
        if self.kafka.proc and self.kafka.proc.poll() is None:
            found["broker"] = self.kafka.proc.pid
        return {name: pid for name, pid in found.items() if pid is not None}

    def rss(self) -> dict[str, int]:
        """KiB resident, per process of ours."""
        return {name: kib for name, pid in self.pids().items() if (kib := rss_kib(pid)) is not None}

    def dead(self) -> list[str]:
        """Processes of ours that exited when nothing asked them to."""
        return [name for name, p in self.processes.items() if p.proc is not None and p.proc.poll() is not None]

    def unhandled_errors(self) -> dict[str, int]:
        """Per API, the 500s it logged so far (``unhandled error``), answered to anyone or to no one
        (a gateway that had given up on it)."""
        found = {}
        for name in SERVICES:
            path = self.logs / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            found[name] = text.count('"event": "unhandled error"')
        return found

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
