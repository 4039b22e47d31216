"""``make run``: the whole portal on one machine.

Starts (unless told to use external servers) an embedded PostgreSQL and an embedded
Kafka-protocol broker, prepares one database per service, then supervises every process:
each service's API and worker, and the gateway. Ctrl-C or SIGTERM stops them all.

Configuration (environment):
  PORTAL_DATA_DIR          where PostgreSQL keeps its data and processes their logs (.data)
  PORTAL_DATABASE_URL      an external PostgreSQL server (postgresql://user:pass@host:5432);
                           one database per service is created on it (portal_<service>)
  KAFKA_BOOTSTRAP_SERVERS  an external Kafka cluster (host:port,...)
  PORTAL_POSTGRES_PORT     port of the embedded PostgreSQL (55432)
  PORTAL_KAFKA_PORT        port of the embedded broker (59092)
  PORTAL_METRICS_PORT      the gateway's internal metrics port (9100); each service's API and
                           worker have theirs at the registry's offsets from it (9101-9106 and
                           9111-9116 with the default); /metrics is never public
  GATEWAY_PORT, <SERVICE>_PORT (IDENTITY_PORT, ...: every service of contracts/services.py)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import services as registry
from services.kit.aio import wait_or_stop

from .components import EmbeddedKafka, EmbeddedPostgres, die_with_parent, stop_process
from .stack import load_spec, prepare_databases, prepare_topics

ROOT = Path(__file__).resolve().parents[2]
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


class RunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore")

    data_dir: Path = ROOT / ".data"
    database_url: str | None = None
    postgres_port: int = 55432
    kafka_port: int = 59092
    kafka_bootstrap_servers: str | None = Field(default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"))
    gateway_port: int = Field(default=8000, validation_alias=AliasChoices("GATEWAY_PORT"))
    # Every process's /metrics is on its own internal port, counted from this one.
    metrics_port: int = Field(default=registry.METRICS_PORT, ge=1, le=65535 - 20)
    seed: bool = True
    startup_timeout: float = 90.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    url: str | None = None
    metrics: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(), start_new_session=True,
            )  # fmt: skip


def say(text: str) -> None:
    print(text, flush=True)


class Supervisor:
    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.logs = settings.data_dir / "logs"
        self.postgres: EmbeddedPostgres | None = None
        self.kafka: EmbeddedKafka | None = None
        self.children: list[Child] = []
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.logs.mkdir(exist_ok=True)
            server_url, bootstrap = await asyncio.to_thread(self.start_infrastructure)
            say("preparing databases (migrations) and topics ...")
            urls = await prepare_databases(server_url)
            await prepare_topics(bootstrap)
            if self.settings.seed:
                await self.seed(urls)
            self.children = self.plan(urls, bootstrap)
            for child in self.children:
                child.start()
            if not await self.wait_ready():
                return 0 if self.stopping.is_set() else 1  # stopped while starting is a clean stop
            self.print_table(server_url, bootstrap)
            return await self.supervise()
        finally:
            await asyncio.to_thread(self.shutdown)

    def start_infrastructure(self) -> tuple[str, str]:
        s = self.settings
        if s.database_url:
            server_url = s.database_url
            say("PostgreSQL: external server (PORTAL_DATABASE_URL)")
        else:
            self.postgres = EmbeddedPostgres(s.data_dir / "postgres", s.postgres_port)
            say(f"PostgreSQL: embedded server on 127.0.0.1:{s.postgres_port}, data in {self.postgres.data_dir}")
            self.postgres.start()
            server_url = self.postgres.url()
        if s.kafka_bootstrap_servers:
            bootstrap = s.kafka_bootstrap_servers
            say(f"Kafka: external cluster {bootstrap}")
        else:
            self.kafka = EmbeddedKafka(s.kafka_port, log_path=self.logs / "kafka.log")
            say(f"Kafka: starting embedded broker on 127.0.0.1:{s.kafka_port} (memory only; the outboxes are durable)")
            self.kafka.start()
            bootstrap = self.kafka.bootstrap
        return server_url, bootstrap

    async def seed(self, urls: dict[str, str]) -> None:
        for name in registry.service_names():
            if load_spec(name).seed is None:
                continue
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"services.{name}", "seed", cwd=ROOT, env=self.child_env(urls, "", name)
            )
            if await proc.wait() != 0:
                raise RuntimeError(f"seeding {name} failed")

    def child_env(self, urls: dict[str, str], bootstrap: str, service: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("PORTAL_ENVIRONMENT", "development")
        env["PORTAL_OIDC_ISSUER"] = env.get("PORTAL_OIDC_ISSUER", f"http://127.0.0.1:{self.settings.gateway_port}")
        if bootstrap:
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        for name, url in urls.items():
            env[f"{name.upper()}_DATABASE_URL"] = url
            port = load_spec(name).settings_cls().port
            env.setdefault(f"GATEWAY_{name.upper()}_URL", f"http://127.0.0.1:{port}")
        identity = env["GATEWAY_IDENTITY_URL"]
        env.setdefault("PORTAL_OIDC_JWKS_URL", f"{identity}/oauth2/jwks")
        # Dossier attachments and the files sent with feedback beside the database's data, kept
        # across runs like it.
        env.setdefault("DOSSIER_STORAGE_DIR", str(self.settings.data_dir / "dossier-files"))
        env.setdefault("FEEDBACK_STORAGE_DIR", str(self.settings.data_dir / "feedback-files"))
        # In development the sandbox bank is the payment provider.
        env.setdefault("SANDBOX_BANK_PORT", "8010")
        env.setdefault("PAYMENT_VNPAY_PAY_URL", f"http://127.0.0.1:{env['SANDBOX_BANK_PORT']}/vnpay/pay")
        env.setdefault(
            "PAYMENT_VNPAY_API_URL", f"http://127.0.0.1:{env['SANDBOX_BANK_PORT']}/merchant_webapi/api/transaction"
        )
        # ... and the agency simulator is the development agency's system.
        if env.get("PORTAL_ENVIRONMENT") == "development":
            env.setdefault("SANDBOX_AGENCY_PORT", "8011")
            env.setdefault("SANDBOX_AGENCY_PORTAL_URL", env["PORTAL_OIDC_ISSUER"])
            # It takes each dossier from received to result returned, two seconds a step.
            env.setdefault("SANDBOX_AGENCY_STATUSES", "[2, 4, 9, 10]")
            env.setdefault("SANDBOX_AGENCY_STEP_SECONDS", "2")
            env.setdefault("SYNC_DEV_ALLOW_PRIVATE_ENDPOINTS", "true")
            env.setdefault("SYNC_DEV_AGENCY_ENDPOINT", f"http://127.0.0.1:{env['SANDBOX_AGENCY_PORT']}/in")
            # Notifications go to the sandbox mailbox (SMTP with STARTTLS: the service trusts the
            # mailbox's certificate) and the sandbox SMS and push providers, which post their
            # receipts back through the gateway.
            certificate = self.settings.data_dir / "sandbox-mailbox.pem"
            env.setdefault("SANDBOX_MAILBOX_CERTIFICATE_FILE", str(certificate))
            env.setdefault("SANDBOX_MAILBOX_SMTP_PORT", "2525")
            env.setdefault("SANDBOX_MAILBOX_HTTP_PORT", "8025")
            env.setdefault("SANDBOX_MESSAGING_PORT", "8030")
            mailbox = {"name": "mailbox", "host": "127.0.0.1", "port": int(env["SANDBOX_MAILBOX_SMTP_PORT"]),
                       "sender": "no-reply@portal.localhost", "username": "portal", "password": "development",
                       "ca_file": str(certificate)}  # fmt: skip
            env.setdefault("NOTIFICATION_EMAIL_PROVIDERS", json.dumps([mailbox]))
            messaging = f"http://127.0.0.1:{env['SANDBOX_MESSAGING_PORT']}"
            sms = [{"name": f"sandbox-{x}", "base_url": f"{messaging}/{x}", "api_key": f"development-sms-{x}-key",
                    "signing_secret": f"development-sms-{x}-secret"} for x in ("a", "b")]  # fmt: skip
            env.setdefault("NOTIFICATION_SMS_PROVIDERS", json.dumps(sms))
            push = {"name": "sandbox-push", "base_url": f"{messaging}/push", "project_id": "portal-development",
                    "access_token": "development-push-token"}  # fmt: skip
            env.setdefault("NOTIFICATION_PUSH_PROVIDERS", json.dumps([push]))
            receipts = f"{env['PORTAL_OIDC_ISSUER']}/api/v1/notification/receipts/sms/sandbox-{{provider}}"
            env.setdefault("SANDBOX_MESSAGING_RECEIPT_URL", receipts)
            # The national e-ID's stand-in; identity's client key is the one in identity's JWKS.
            env.setdefault("SANDBOX_EID_PORT", "8040")
            env.setdefault("SANDBOX_EID_ISSUER", f"http://127.0.0.1:{env['SANDBOX_EID_PORT']}")
            env.setdefault("SANDBOX_EID_KEY_FILE", str(self.settings.data_dir / "sandbox-eid.pem"))
            portal_client = {"client_id": "portal-identity", "jwks_uri": f"{env['PORTAL_OIDC_ISSUER']}/oauth2/jwks",
                             "redirect_uris": [f"{env['PORTAL_OIDC_ISSUER']}/oauth2/eid/callback"]}  # fmt: skip
            env.setdefault("SANDBOX_EID_CLIENTS", json.dumps([portal_client]))
            # ... which identity signs citizens and enterprises in through (docs/federation.md).
            env.setdefault("IDENTITY_EID_ISSUER", env["SANDBOX_EID_ISSUER"])
            # A province's own portal signing people in through the national SSO (client
            # demo-province-portal, whose redirect and back-channel logout URIs are on this port).
            env.setdefault("SANDBOX_PROVINCE_PORTAL_PORT", "8766")
            env.setdefault("SANDBOX_PROVINCE_PORTAL_ISSUER", env["PORTAL_OIDC_ISSUER"])
            env.setdefault(
                "SANDBOX_PROVINCE_PORTAL_PUBLIC_URL", f"http://127.0.0.1:{env['SANDBOX_PROVINCE_PORTAL_PORT']}"
            )
        env.setdefault("NOTIFICATION_IDENTITY_URL", identity)
        env.setdefault("NOTIFICATION_PORTAL_URL", env["PORTAL_OIDC_ISSUER"])
        return env

    def plan(self, urls: dict[str, str], bootstrap: str) -> list[Child]:
        env = self.child_env(urls, bootstrap)
        children = []
        first = self.settings.metrics_port

        def process(name: str, args: list[str], log: str, metrics: int, url: str | None = None) -> Child:
            argv = [sys.executable, "-m", *args, "--metrics-port", str(metrics)]
            return Child(name, argv, env, self.logs / log, url=url, metrics=f"http://127.0.0.1:{metrics}/metrics")

        shift = first - registry.METRICS_PORT  # the services' metrics ports move with the gateway's
        for service in registry.services():
            name = service.name
            port = load_spec(name).settings_cls().port
            children.append(process(name, [service.package, "api"], f"{name}.log", service.metrics_port + shift,
                                    url=f"http://127.0.0.1:{port}"))  # fmt: skip
            children.append(process(f"{name}-worker", [service.package, "worker"], f"{name}-worker.log",
                                    service.worker_metrics_port + shift))  # fmt: skip
        children.append(process("gateway", ["gateway"], "gateway.log", first,
                                url=f"http://127.0.0.1:{self.settings.gateway_port}"))  # fmt: skip
        if env.get("PORTAL_ENVIRONMENT", "development") == "development":
            # The payment provider of development: a bank that speaks VNPay and signs transfer
            # notifications, calling the portal back through the gateway.
            portal = f"http://127.0.0.1:{self.settings.gateway_port}/api/v1/payment/callbacks"
            bank_env = {**env, "SANDBOX_BANK_IPN_URL": f"{portal}/vnpay/ipn",
                        "SANDBOX_BANK_NOTIFICATION_URL": f"{portal}/bank"}  # fmt: skip
            children.append(Child("sandbox-bank", [sys.executable, "-m", "deploy.sandbox.bank"], bank_env,
                                  self.logs / "sandbox-bank.log",
                                  url=f"http://127.0.0.1:{env['SANDBOX_BANK_PORT']}"))  # fmt: skip
            # The development agency's one-stop system: takes deliveries, pushes statuses back.
            children.append(Child("sandbox-agency", [sys.executable, "-m", "deploy.sandbox.agency"], env,
                                  self.logs / "sandbox-agency.log",
                                  url=f"http://127.0.0.1:{env['SANDBOX_AGENCY_PORT']}"))  # fmt: skip
            # Where notifications go: an SMTP server keeping what it gets (read at its page), and
            # two SMS providers and a push provider that deliver later and send receipts.
            children.append(Child("sandbox-mailbox", [sys.executable, "-m", "deploy.sandbox.mailbox"], env,
                                  self.logs / "sandbox-mailbox.log",
                                  url=f"http://127.0.0.1:{env['SANDBOX_MAILBOX_HTTP_PORT']}"))  # fmt: skip
            children.append(Child("sandbox-messaging", [sys.executable, "-m", "deploy.sandbox.messaging"], env,
                                  self.logs / "sandbox-messaging.log",
                                  url=f"http://127.0.0.1:{env['SANDBOX_MESSAGING_PORT']}"))  # fmt: skip
            # The national e-ID's stand-in: an OpenID provider with test people (docs/eid-sandbox.md).
            children.append(Child("sandbox-eid", [sys.executable, "-m", "deploy.sandbox.eid"], env,
                                  self.logs / "sandbox-eid.log", url=env["SANDBOX_EID_ISSUER"]))  # fmt: skip
            # A province portal as a relying party: sign in with the portal, back-channel logout.
            children.append(Child("sandbox-province", [sys.executable, "-m", "deploy.sandbox.province_portal"], env,
                                  self.logs / "sandbox-province.log",
                                  url=env["SANDBOX_PROVINCE_PORTAL_PUBLIC_URL"]))  # fmt: skip
        return children

    async def wait_ready(self) -> bool:
        url = f"http://127.0.0.1:{self.settings.gateway_port}/readyz"
        deadline = time.monotonic() + self.settings.startup_timeout
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline and not self.stopping.is_set():
                for child in self.children:
                    if child.proc and child.proc.poll() is not None:
                        say(f"{child.name} exited during start-up (code {child.proc.returncode}); see {child.log}")
                        return False
                try:
                    if (await client.get(url)).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
        if not self.stopping.is_set():
            say(f"the portal did not become ready within {self.settings.startup_timeout:.0f}s; logs in {self.logs}")
        return False

    def print_table(self, server_url: str, bootstrap: str) -> None:
        say("\nThe portal is running:")
        for child in self.children:
            where = child.url or "(background: outbox relay and consumers)"
            metrics = f"  metrics {child.metrics}" if child.metrics else ""
            say(f"  {child.name:<18} {where:<45} pid {child.proc.pid if child.proc else '-'}{metrics}")
        gateway = f"http://127.0.0.1:{self.settings.gateway_port}"
        say(f"  {'PostgreSQL':<18} {server_url.split('@')[-1]:<45} databases portal_<service>")
        say(f"  {'Kafka':<18} {bootstrap:<45}")
        say(f"\n  API and docs: {gateway}/docs    readiness: {gateway}/readyz")
        say(f"  logs: {self.logs}/<process>.log\n  Ctrl-C stops everything.")

    async def supervise(self) -> int:
        """Restart a process that dies, unless it keeps dying; return when asked to stop."""
        while not self.stopping.is_set():
            for child in self.children:
                if child.proc is None or child.proc.poll() is None:
                    continue
                now = time.monotonic()
                while child.restarts and now - child.restarts[0] > RESTART_WINDOW:
                    child.restarts.popleft()
                if len(child.restarts) >= MAX_RESTARTS:
                    say(f"{child.name} keeps exiting (code {child.proc.returncode}); stopping. See {child.log}")
                    return 1
                say(f"{child.name} exited with code {child.proc.returncode}; restarting")
                child.restarts.append(now)
                child.start()
            await wait_or_stop(self.stopping, 1.0)
        return 0

    def shutdown(self) -> None:
        """Services first (in parallel), then the broker, then PostgreSQL; within 10 s in all."""
        started = time.monotonic()
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children:
            if child.proc:
                stop_process(child.proc, signal.SIGTERM, max(0.5, 6 - (time.monotonic() - started)))
        if self.kafka:
            self.kafka.stop(timeout=1.5)
        if self.postgres:
            self.postgres.stop(timeout=2.0)
        if self.children or self.postgres or self.kafka:
            say(f"stopped in {time.monotonic() - started:.1f}s")


def main() -> int:
    die_with_parent()()  # if make, our parent, is killed, stop too
    return asyncio.run(Supervisor(RunSettings()).run())


if __name__ == "__main__":
    raise SystemExit(main())
