"""A service's shutdown hook runs when its API stops, and the database is closed even when the
hook fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from services.kit.app import ServiceSpec, build_app
from services.kit.settings import ServiceSettings


def _spec(hook) -> ServiceSpec:  # type: ignore[no-untyped-def]
    return ServiceSpec(name="things", title="Things", settings_cls=ServiceSettings, migrations=Path("."),
                       on_shutdown=hook)  # fmt: skip


def test_the_hook_runs_at_shutdown_with_the_app() -> None:
    seen: list[str] = []

    async def hook(app: FastAPI) -> None:
        seen.append(app.title)

    with TestClient(build_app(_spec(hook), ServiceSettings(log_json=False))):
        assert seen == []
    assert seen == ["Things API"]


def test_a_failing_hook_still_lets_the_database_close(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []

    async def dispose(self) -> None:  # type: ignore[no-untyped-def]
        closed.append(True)

    monkeypatch.setattr("services.kit.db.Database.dispose", dispose)

    async def hook(app: FastAPI) -> None:
        raise RuntimeError("the client would not close")

    with pytest.raises(RuntimeError), TestClient(build_app(_spec(hook), ServiceSettings(log_json=False))):
        pass
    assert closed == [True]
