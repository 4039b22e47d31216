"""A worker's own port: ``/healthz`` follows its event loop, ``/readyz`` its database; ``--only``
runs the parts named; and a service API stays ready while the broker is away (the outbox keeps
its events), saying so."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from deploy.local.components import free_port
from services.kit.app import ConsumerSpec, ServiceSpec, build_app
from services.kit.cli import main
from tests.conftest import make_settings, unique
from tests.observability.test_operator_metrics import spec_of
from tests.support.journey import TOPICS
from tests.support.kafka import create_topics
from tests.support.metrics import running_worker, sample, samples
from tests.support.processes import portal_env, process, wait_http
from tests.support.servers import serve

pytestmark = pytest.mark.integration


async def test_healthz_follows_the_event_loop_and_readyz_the_database(kit_db_url, infra) -> None:
    name = unique("health")
    settings = make_settings(name, kit_db_url, infra.bootstrap, worker_liveness_seconds=1.5)
    async with running_worker(spec_of(settings), settings) as (_, url), httpx.AsyncClient(base_url=url) as client:
        await asyncio.sleep(1.2)  # a beat or two
        alive, ready = await client.get("/healthz"), await client.get("/readyz")
        assert (alive.status_code, ready.status_code) == (200, 200)
        assert alive.json()["parts"] == ["consumers", "jobs", "relay"]
        assert ready.json() == {"status": "ready", "service": f"{name}-worker", "checks": {"database": True}}

        # The loop blocked (a handler stuck in synchronous work): no beat, so not alive; the probe is
        # answered from another thread all the same.
        def ask(path: str) -> httpx.Response:
            return httpx.get(f"{url}{path}", timeout=5)

        blocked = asyncio.get_running_loop().run_in_executor(None, lambda: (time.sleep(2.2), ask("/healthz"))[1])
        time.sleep(3)  # blocking the loop is the point
        stuck = await blocked
        assert stuck.status_code == 503, stuck.text
        assert stuck.json()["status"] == "unhealthy" and stuck.json()["heartbeat_age_seconds"] >= 1.5
        await asyncio.sleep(1.2)
        assert (await client.get("/healthz")).status_code == 200
        delay = sample((await client.get("/metrics")).text, "worker_event_loop_delay_seconds", service=name)
        assert delay is not None


async def test_readyz_fails_while_the_database_is_unreachable(infra) -> None:
    name = unique("unready")
    settings = make_settings(name, "postgresql://postgres@127.0.0.1:9/none", infra.bootstrap, worker_liveness_seconds=5)
    async with (
        running_worker(spec_of(settings), settings, parts=["jobs"]) as (_, url),
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        ready, alive = await client.get("/readyz"), await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not-ready", "service": f"{name}-worker", "checks": {"database": False}}
    assert alive.status_code == 200  # the process itself is fine: restarting it would not help


def test_only_takes_parts_by_name_repeated_or_comma_separated(monkeypatch) -> None:
    chosen = {}

    async def fake_run_worker(spec, settings, metrics_port=None, parts=()):  # type: ignore[no-untyped-def]
        chosen["parts"], chosen["port"] = list(parts), metrics_port

    monkeypatch.setattr("services.kit.cli.run_worker", fake_run_worker)
    settings = make_settings("onlycli", "postgresql://postgres@127.0.0.1:9/none", "127.0.0.1:9")
    spec = spec_of(settings)
    for argv, parts in (
        ([], ["relay", "consumers", "jobs"]),
        (["--only", "relay"], ["relay"]),
        (["--only", "consumers,jobs"], ["consumers", "jobs"]),
        (["--only", "jobs", "--only", "relay", "--only", "jobs"], ["jobs", "relay"]),
    ):
        assert main(spec, ["worker", "--metrics-port", "9100", *argv]) == 0
        assert chosen == {"parts": parts, "port": 9100}, argv
    for wrong in (["--only", "relays"], ["--only", ""], ["--only", "relay,api"]):
        with pytest.raises(SystemExit) as refused:
            main(spec, ["worker", *wrong])
        assert refused.value.code == 2


async def test_a_worker_runs_only_the_parts_named(dossier_db_url, infra, tmp_path) -> None:
    """The real command: ``python -m services.dossier worker --only relay --metrics-port P``."""
    await create_topics(infra.bootstrap, *TOPICS)
    env = portal_env(DOSSIER_DATABASE_URL=dossier_db_url, KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap,
                     DOSSIER_STORAGE_DIR=str(tmp_path / "files"), DOSSIER_METRICS_SAMPLE_SECONDS="0.5")  # fmt: skip
    for only, relay in (("relay", True), ("consumers,jobs", False)):
        port, log = free_port(), tmp_path / f"worker-{only}.log"
        url = f"http://127.0.0.1:{port}"
        argv = ["services.dossier", "worker", "--only", only, "--metrics-port", str(port)]
        with process(argv, env, log) as worker:
            wait_http(f"{url}/readyz", worker, log)
            health = httpx.get(f"{url}/healthz", timeout=5).json()
            assert health["parts"] == sorted(only.split(",")), health
            metrics = ""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                metrics = httpx.get(f"{url}/metrics", timeout=5).text
                if (sample(metrics, "outbox_relay_active", service="dossier") == 1) == relay and (
                    relay or samples(metrics, "consumer_lag_messages", consumer="dossier.statistics")
                ):
                    break
                time.sleep(0.3)
        assert (sample(metrics, "outbox_relay_active", service="dossier") == 1) is relay, only
        assert bool(samples(metrics, "consumer_lag_messages", consumer="dossier.statistics")) is not relay, only
        started = next(line for line in log.read_text().splitlines() if "worker started" in line)
        assert ("dossier.statistics" in started) is not relay, started


async def test_an_api_stays_ready_without_the_broker_and_says_so(kit_db_url) -> None:
    settings = make_settings("nobroker", kit_db_url, "127.0.0.1:9")
    spec = ServiceSpec(name="nobroker", title="No broker", settings_cls=type(settings), migrations=Path("."),
                       consumers=[ConsumerSpec(name="c", topics=["t"], handlers={})])  # fmt: skip
    with serve(build_app(spec, settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "service": "nobroker", "checks": {"database": True, "broker": False},
                               "degraded": ["broker"]}  # fmt: skip
