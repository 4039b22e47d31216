"""Each of the five services: its migrations go up and down, its app serves health and
readiness on real HTTP against its real database and the broker, its CLI exists."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import httpx
import pytest

from deploy.local.stack import create_database, database_url, load_spec
from services.kit.cli import main
from services.kit.kafka import SERVICE_NAMES
from services.kit.migrations import downgrade, upgrade
from tests.conftest import ROOT
from tests.support.servers import serve

pytestmark = pytest.mark.integration


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_migrations_go_up_down_and_up_again(infra, name) -> None:
    spec = load_spec(name)
    db = f"mig_{name}"
    await create_database(infra.server_url, db)
    url = database_url(infra.server_url, db)
    await asyncio.to_thread(upgrade, spec.migrations, url)
    assert {"kit_outbox", "kit_inbox", "alembic_version"} <= await tables(url)
    await asyncio.to_thread(downgrade, spec.migrations, url, "base")
    assert await tables(url) == {"alembic_version"}
    await asyncio.to_thread(upgrade, spec.migrations, url)
    assert {"kit_outbox", "kit_inbox"} <= await tables(url)


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_each_service_is_ready_on_its_own_database(infra, name, monkeypatch) -> None:
    spec = load_spec(name)
    db = f"app_{name}"
    await create_database(infra.server_url, db)
    url = database_url(infra.server_url, db)
    await asyncio.to_thread(upgrade, spec.migrations, url)
    monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.bootstrap)
    app = __import__(f"services.{name}.app", fromlist=["create_app"]).create_app()
    with serve(app) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            ready = await client.get("/readyz")
            openapi = await client.get("/openapi.json")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "service": name, "checks": {"database": True, "broker": True}}
    assert openapi.json()["info"]["title"] == f"{spec.title} API"


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_every_service_has_the_same_command_line(name, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(load_spec(name), ["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"python -m services.{name}" in out
    for command in ("api", "worker", "migrate", "seed", "replay"):
        assert command in out


def test_a_service_command_line_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.dossier", "replay", "--help"], cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--since" in result.stdout and "--topic" in result.stdout
