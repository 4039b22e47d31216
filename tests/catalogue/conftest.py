"""A client of the catalogue API on real HTTP over a fresh database holding the fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def api(catalogue_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=catalogue_server + "/api/v1/catalogue", timeout=30) as client:
        yield client
