"""OWASP API4:2023 Unrestricted Resource Consumption, through the gateway.

Bodies are bounded (the gateway's own limit, by the declared length and while a chunked body
streams; then each service's, tighter); so are files, records in a batch, rows of an import and
pages (every ``limit`` of the merged document has a maximum, and one more is refused); clients
that call too often get 429 with ``Retry-After`` (per address at the gateway, per client for
status pushes); a service that goes silent costs the caller a bounded wait (504); and a client
that stops sending its body must not hold a connection for ever.

The services' own tests cover each limit at its service (tests/dossier/test_bad_input.py,
tests/sync/test_inbound_http.py, tests/gateway/test_gateway_ratelimit.py, ...); here they hold
end to end through the gateway.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from tests.security.routes import FUZZ_CALLER, RULES, operations
from tests.support.dossier import PDF
from tests.support.servers import serve
from tests.support.stack import Stack
from tests.support.sync import H22

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def test_a_body_over_the_gateways_limit_is_refused_before_any_service_reads_it(stack: Stack) -> None:
    limit = stack.gateway_settings.max_body_bytes
    too_big = b"x" * (limit + 1)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body streams
        for start in range(0, len(too_big), MIB):
            yield too_big[start : start + MIB]

    with stack.client() as api:
        declared = api.post("/api/v1/dossier/attachments", headers=stack.headers("citizen_a"), content=too_big)
        streamed = api.post("/api/v1/dossier/attachments", headers=stack.headers("citizen_a"), content=chunks())
    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text[:200]
        assert answer.headers["content-type"] == "application/problem+json"


def test_each_service_bounds_its_own_bodies_and_files(stack: Stack) -> None:
    sync_limit = stack.settings["sync"].max_body_bytes
    file_limit = stack.settings["dossier"].max_attachment_bytes  # type: ignore[attr-defined]
    records = [{"dossier_code": f"{H22}-260101-{n:04d}", "agency_code": H22, "status": 2,
                "occurred_at": datetime.now(UTC).isoformat(), "note": "x" * 400} for n in range(1000)]  # fmt: skip
    with stack.client() as api:
        # A batch over the sync service's 4 MiB (far under the gateway's 25 MiB).
        big_batch = api.post("/api/v1/sync/records", headers=stack.headers("province_fuzz"),
                             content=b'{"records": [' + b"0," * (sync_limit // 2) + b"0]}",
                             )  # fmt: skip
        # A file just over the dossier service's per-file limit.
        big_file = api.post(
            "/api/v1/dossier/attachments",
            headers=stack.headers("citizen_a"),
            files={"file": ("big.pdf", PDF + b"\0" * (file_limit - len(PDF) + 1), "application/pdf")},
        )
        # One record more than a batch may hold.
        many = api.post("/api/v1/sync/records", headers=stack.headers("province_fuzz"),
                        json={"records": [*records, records[0]]})  # fmt: skip
    assert big_batch.status_code == 413, big_batch.text[:200]
    assert big_file.status_code == 413, big_file.text[:200]
    assert many.status_code == 422 and "records" in many.text, many.text[:200]


def test_every_page_size_has_a_maximum_and_one_more_is_refused(stack: Stack) -> None:
    document = httpx.get(f"{stack.url}/openapi.json", timeout=30).json()
    tried = []
    with stack.client() as api:
        for method, path in operations(document):
            operation = document["paths"][path][method.lower()]
            for param in operation.get("parameters", []):
                if param["name"] != "limit" or param["in"] != "query":
                    continue
                schema = param["schema"]
                assert "maximum" in schema and schema["maximum"] <= 1000, f"{method} {path}: limit unbounded"
                who = RULES[(method, path)].who
                headers = stack.headers(FUZZ_CALLER[who]) if who != "public" else {}
                url = path.format(service_id=str(uuid.uuid4()), code="1.002804")
                params = {"limit": schema["maximum"] + 1}
                if path.endswith("/statistics"):
                    params |= {"from": "2026-01-01", "days": 31}
                answer = api.request(method, url, params=params, headers=headers)
                assert answer.status_code == 422, f"{method} {path}: {answer.status_code} {answer.text[:200]}"
                tried.append(path)
        # A period is bounded too.
        year = api.get("/api/v1/dossier/statistics", params={"from": "2025-01-01", "days": 367})
    assert year.status_code == 422
    assert len(tried) >= 6, tried


def test_too_many_pushes_from_one_client_are_told_when_to_come_back(stack: Stack) -> None:
    burst = stack.settings["sync"].push_burst  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {stack.mint(_client('burst-province'))}"}
    with stack.client() as api:
        answers = []
        while len(answers) < 2 * burst and (not answers or answers[-1].status_code != 429):
            answers.append(api.post("/api/v1/sync/records", headers=headers, json={"records": [{}]}))
        other = api.post("/api/v1/sync/records", headers=stack.headers("province_fuzz"), json={"records": [{}]})
    assert {a.status_code for a in answers[:burst]} == {200}  # the burst is served...
    assert answers[-1].status_code == 429 and int(answers[-1].headers["retry-after"]) >= 1  # ...then refused
    assert answers[-1].headers["content-type"] == "application/problem+json"
    assert other.status_code == 200  # the limit is that client's, not everyone's


def _client(client_id: str) -> Any:
    from tests.support.stack import Principal

    return Principal(client_id, "sync:push", ("sync",), {"client_id": client_id, "agencies": [H22]})


def test_a_gateway_with_its_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    settings = stack.gateway_settings.model_copy(update={"rate_limit_per_minute": 60, "rate_limit_burst": 5})
    with serve(create_gateway(settings)) as url, httpx.Client(base_url=url, timeout=30) as api:
        answers = [api.get("/api/v1/catalogue/sectors") for _ in range(6)]
        probe = api.get("/readyz")
    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert answers[5].status_code == 429 and int(answers[5].headers["retry-after"]) >= 1
    assert answers[5].headers["content-type"] == "application/problem+json"
    assert probe.status_code == 200  # probes are never throttled


def test_a_silent_service_costs_a_bounded_wait_504(stack: Stack) -> None:
    slow = FastAPI()

    @slow.get("/api/v1/catalogue/sectors")
    async def never() -> dict[str, str]:
        await asyncio.sleep(3)  # far past the gateway's 1 s, and short enough to shut down soon
        return {}

    with serve(slow) as slow_url:
        settings = stack.gateway_settings.model_copy(
            update={"catalogue_url": slow_url, "upstream_timeout_seconds": 1.0}
        )
        with serve(create_gateway(settings)) as url:
            started = time.monotonic()
            answer = httpx.get(f"{url}/api/v1/catalogue/sectors", timeout=30)
            waited = time.monotonic() - started
    assert answer.status_code == 504 and answer.headers["retry-after"]
    assert waited < 5, waited


def test_a_client_that_stops_sending_its_body_is_cut_off(stack: Stack) -> None:
    idle = stack.gateway_settings.body_idle_seconds  # 3 s in the stack (the default is 10)
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST /api/v1/sync/records HTTP/1.1\r\nHost: portal\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"records\": [")  # fmt: skip
        sent = time.monotonic()
        conn.settimeout(idle + 2)
        try:
            answer = conn.recv(1000)
        except TimeoutError:
            answer = b"(still waiting)"
        waited = time.monotonic() - sent
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert waited >= idle - 0.5, f"cut off after {waited:.1f} s, before the {idle} s allowed"
