"""Internal metrics are not served to the internet: every API's and the gateway's public port
answers 404 for ``/metrics``; ``--metrics-port`` serves them on an internal port, as the workers'
does — checked on the real commands."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from contracts.services import service_names
from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.kit.cli import main
from services.kit.health import metrics_server
from tests.conftest import ROOT
from tests.support.servers import serve

SERVICES = service_names()


def public(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://public.test")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SERVICES)
async def test_an_apis_public_port_has_no_metrics(name: str) -> None:
    module = importlib.import_module(f"services.{name}.app")
    app = module.create_app(module.SERVICE.settings_cls(environment="test", log_json=False))
    async with public(app) as api:
        assert (await api.get("/healthz")).status_code == 200
        answer = await api.get("/metrics")
    assert answer.status_code == 404
    assert "http_requests_total" not in answer.text


def test_the_gateways_public_port_has_no_metrics() -> None:
    with serve(create_gateway(GatewaySettings(environment="test", log_json=False, verify_tokens=False))) as url:
        answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_internal_port_serves_metrics_only() -> None:
    server = metrics_server("127.0.0.1", 0, "things-api").start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200 and "# TYPE" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")
        assert httpx.get(f"{base}/healthz").status_code == 404  # probes stay on the public port
    finally:
        server.stop()


def test_metrics_of_several_uvicorn_workers_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.import_module("services.catalogue.app").SERVICE
    with pytest.raises(SystemExit):
        main(spec, ["api", "--workers", "2", "--metrics-port", "9100"])
    assert "--metrics-port" in capsys.readouterr().err


@contextmanager
def running(argv: list[str], env: dict[str, str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"{argv} exited with {proc.returncode}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{argv} did not start"
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("argv", "prefix"),
    [(["services.catalogue", "api"], "CATALOGUE_"), (["gateway"], "GATEWAY_")],
)
def test_the_commands_serve_metrics_on_their_internal_port(argv: list[str], prefix: str) -> None:
    port, metrics_port = free_port(), free_port()
    env = {f"{prefix}PORT": str(port), "PORTAL_ENVIRONMENT": "test", "PORTAL_LOG_LEVEL": "WARNING",
           f"{prefix}DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:9/none"}  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running([*argv, "--metrics-port", str(metrics_port)], env, url):
        assert httpx.get(f"{url}/metrics", timeout=5).status_code == 404
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text
