"""What the end-to-end journeys share: the intake service published in the dossier read model,
workers running on the real broker, a gateway in front of some services, and a citizen filing
a complete dossier through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import httpx

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.kit.app import ServiceSpec
from services.kit.db import Database
from services.kit.settings import ServiceSettings
from services.kit.worker import Worker
from tests.support.dossier import INTAKE_FEES, INTAKE_FORM, PDF, new_service_id, publish_into, service_published
from tests.support.kafka import create_topics
from tests.support.servers import serve

TOPICS = ("catalogue.events", "catalogue.dlq", "dossier.events", "dossier.dlq", "payment.events", "payment.dlq",
          "sync.events", "sync.dlq")  # fmt: skip


async def intake_service(bootstrap: str, dossier_db_url: str) -> str:
    """The topics exist and the dossier service offers the intake form's service; its id."""
    await create_topics(bootstrap, *TOPICS)
    service_id = new_service_id()
    published = service_published(service_id, 1, 1, form_schema=INTAKE_FORM, fees=INTAKE_FEES)
    await publish_into(dossier_db_url, ("published", published))
    return service_id


@asynccontextmanager
async def workers(*running: tuple[ServiceSpec, ServiceSettings]) -> AsyncIterator[None]:
    """Each service's worker (outbox relay, consumers, periodic jobs) until the block ends."""
    dbs = [Database(s.database_url.get_secret_value(), source=spec.name, topic=s.topic, unit_of_work=spec.unit_of_work)
           for spec, s in running]  # fmt: skip
    started = [Worker(spec, s, db) for (spec, s), db in zip(running, dbs, strict=True)]
    tasks = [asyncio.create_task(w.run()) for w in started]
    try:
        yield
    finally:
        for worker in started:
            worker.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for db in dbs:
            await db.dispose()


@contextmanager
def gateway(port: int, jwks_url: str, **service_urls: str) -> Iterator[str]:
    """The gateway on ``port`` (its URL is the issuer) in front of the given services."""
    settings = GatewaySettings(port=port, public_url=f"http://127.0.0.1:{port}", oidc_jwks_url=jwks_url,
                               log_json=False, rate_limit_per_minute=0, **service_urls)  # fmt: skip
    with serve(create_gateway(settings), port=port) as url:
        yield url


async def dossier_submission(api: httpx.AsyncClient, citizen: dict[str, str], service_id: str) -> dict[str, Any]:
    """A complete submission for the intake service, its files uploaded through ``api`` (the
    gateway's /api/v1): the body to post to ``/dossier/dossiers``."""
    refs = []
    for component in ("TP01", "TP02"):
        up = await api.post("/dossier/attachments", headers=citizen, files={"file": ("a.pdf", PDF)})
        assert up.status_code == 201, up.text
        refs.append({"id": up.json()["id"], "component_code": component})
    return {"service_id": service_id, "attachments": refs,
            "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
            "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip


async def file_dossier(api: httpx.AsyncClient, citizen: dict[str, str], service_id: str) -> dict[str, Any]:
    """A complete dossier for the intake service, filed through ``api`` (the gateway's /api/v1);
    its receipt."""
    body = await dossier_submission(api, citizen, service_id)
    filed = await api.post("/dossier/dossiers", headers=citizen, json=body)
    assert filed.status_code == 201, filed.text
    return filed.json()  # type: ignore[no-any-return]


T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str = "the change", timeout: float = 30.0) -> T:
    """What ``probe`` gives once it gives something (not None), polled every 0.2 s for at most
    ``timeout`` seconds: for what arrives through the broker."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f} s")
        await asyncio.sleep(0.2)
