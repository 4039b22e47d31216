"""OWASP API7:2023 Server Side Request Forgery.

The portal calls out where an operator or an editor says: an agency's delivery endpoint (sync) and,
were it allowed, a JSON Schema's ``$ref`` (catalogue forms). Through the gateway: endpoints on this
machine, private networks, link-local and cloud metadata addresses, in every spelling (integer,
hex, octal, IPv4-mapped and 6to4 IPv6, ``localhost.``), with credentials, a query, or a scheme
other than https are refused at registration; a remote ``$ref`` is refused and never fetched.
At delivery time (the worker's own code, called here directly): a host that *resolves* to such an
address is not called, and a redirect is not followed.

In depth: tests/sync/test_outbound.py, tests/catalogue/test_editor.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from services.catalogue.service.fixtures import service_id as catalogue_service_id
from services.sync.domain.delivery import AttemptResult, Claim, Delivery
from services.sync.service.outbound import _cipher, try_delivery
from services.sync.settings import SyncSettings
from tests.support.servers import serve
from tests.support.stack import OTHER_AGENCY, Stack
from tests.support.sync import H22

pytestmark = pytest.mark.integration

INSIDE = [
    "https://127.0.0.1/in", "https://127.1/in", "https://2130706433/in", "https://0x7f000001/in", "https://0177.0.0.1/in",
    "https://localhost/in", "https://localhost./in", "https://portal.localhost/in", "https://[::1]/in",
    "https://[::ffff:127.0.0.1]/in", "https://[2002:7f00:1::]/in", "https://0.0.0.0/in",
    "https://10.0.0.5/in", "https://172.16.0.5/in", "https://192.168.1.5/in", "https://100.64.0.5/in",
    "https://[fd00::5]/in", "https://169.254.169.254/latest/meta-data/", "https://[fe80::1]/in",
    "https://[fd00:ec2::254]/latest/meta-data/",
]  # fmt: skip
MALFORMED = ["http://motcua.example.vn/in", "https://user:pass@motcua.example.vn/in",
             "https://motcua.example.vn/in?x=1", "https://motcua.example.vn/in#x", "file:///etc/passwd",
             "gopher://motcua.example.vn/", "ftp://x/"]  # fmt: skip


class Recorder:
    """A local server that records every request, and answers with a redirect on ``/moved``."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST"])
        async def anything(request: Request, path: str) -> Response:
            self.hits.append(f"{request.method} /{path}")
            if path == "moved":
                return Response(status_code=307, headers={"Location": "/taken"})
            return Response("{}", media_type="application/json")


def test_endpoints_that_reach_inside_are_refused_at_registration(stack: Stack) -> None:
    admin = stack.headers("admin")
    path = f"/api/v1/sync/agencies/{OTHER_AGENCY}/endpoint"
    push = {"mode": "push", "secrets": ["s" * 40]}
    with stack.client() as api:
        refused = {url: api.put(path, headers=admin, json={**push, "url": url}) for url in INSIDE + MALFORMED}
        public = api.put(path, headers=admin, json={**push, "url": "https://motcua.example.vn/api/hoso"})
        api.put(path, headers=admin, json={"mode": "pull"})  # leave the agency as it was: nothing to deliver
    wrong = {url: a.status_code for url, a in refused.items() if a.status_code != 422}
    assert wrong == {}, wrong
    assert all({e["field"] for e in a.json()["errors"]} == {"body.url"} for a in refused.values())
    assert public.status_code == 200, public.text  # the positive control: a public https endpoint is fine


def test_a_remote_schema_reference_is_refused_and_never_fetched(stack: Stack) -> None:
    recorder = Recorder()
    service = catalogue_service_id("1.002804", H22)
    with serve(recorder.app) as url, stack.client() as api:
        for ref in (f"{url}/schema.json", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
            schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
            answer = api.patch(f"/api/v1/catalogue/services/{service}/draft", headers=stack.headers("admin"),
                               json={"form_schema": schema})  # fmt: skip
            assert answer.status_code == 422, (ref, answer.text[:300])
    assert recorder.hits == []


def _claim(settings: SyncSettings, url: str) -> Claim:
    """A leased delivery as the worker holds it (its secrets sealed as the registry keeps them)."""
    sealed = _cipher(settings).encrypt(json.dumps(["s" * 40]).encode())
    delivery = Delivery(id=1, kind="filing", dossier_id="d", dossier_code="x", agency_code=OTHER_AGENCY,
                        payload={"code": "x"}, state="pending", attempts=0,
                        next_attempt_at=datetime.now(UTC))  # fmt: skip
    return Claim(delivery, url, sealed)


def test_a_delivery_never_calls_a_host_that_resolves_inside_nor_follows_a_redirect(stack: Stack) -> None:
    recorder = Recorder()
    settings = stack.settings["sync"]
    assert isinstance(settings, SyncSettings)
    development = settings.model_copy(update={"dev_allow_private_endpoints": True})

    async def deliver(url: str, allow: bool) -> AttemptResult:
        async with httpx.AsyncClient(timeout=5, follow_redirects=False, trust_env=False) as client:
            chosen = development if allow else settings
            return await try_delivery(client, chosen, _claim(chosen, url))

    with serve(recorder.app) as url:
        port = url.rsplit(":", 1)[1]
        by_name = asyncio.run(deliver(f"http://localhost:{port}/in", allow=False))
        reachable = asyncio.run(deliver(f"http://localhost:{port}/in", allow=True))  # the control: it was there
        redirected = asyncio.run(deliver(f"{url}/moved", allow=True))
    assert by_name.error is not None and "non-public address" in by_name.error and by_name.status_code is None
    assert reachable.error is None and reachable.status_code == 200
    assert redirected.status_code == 307 and redirected.error is not None and "not followed" in redirected.error
    assert recorder.hits == ["POST /in", "POST /moved"]  # never /taken, and nothing for the refused name
