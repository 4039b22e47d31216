"""One trace from the gateway to a consumer, exported by the real processes over OTLP/HTTP.

The gateway, the dossier API and the dossier worker run as a deployment runs them (``python -m``,
settings from the environment, ``OTEL_EXPORTER_OTLP_ENDPOINT`` set), on the session's PostgreSQL
and broker; their spans go to a real OTLP/HTTP receiver started here, which decodes the protobuf
with ``opentelemetry-proto``. A citizen files a dossier through the gateway under a traceparent
of the test's own; every span of that trace must be there, each the child of the one before:
gateway server → gateway client (the forward) → dossier server → relay producer (one per event
the submission wrote) → consumer (the statistics group applying the event)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from deploy.local.components import free_port
from tests.support.journey import dossier_submission, intake_service
from tests.support.otlp import Span, otlp_receiver
from tests.support.processes import portal_env, process, wait_http
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration

SUBMITTED = "dossier.dossier.submitted.v1"


def _one(spans: list[Span], **wanted: str) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in wanted.items())]
    assert len(found) == 1, f"{len(found)} spans with {wanted}: {[(s.service, s.kind, s.name) for s in spans]}"
    return found[0]


def _complete(spans: list[Span]) -> bool:
    return any(s.kind == "consumer" and s.attributes.get("cloudevents.event_type") == SUBMITTED for s in spans)


async def test_a_submission_is_one_trace_from_the_gateway_to_the_consumer(infra, dossier_db_url, tmp_path) -> None:
    service_id = await intake_service(infra.bootstrap, dossier_db_url)
    dossier_port, gateway_port = free_port(), free_port()
    dossier_url, gateway_url = f"http://127.0.0.1:{dossier_port}", f"http://127.0.0.1:{gateway_port}"
    with otlp_receiver() as (receiver, endpoint), jwks_server() as (keys, jwks_url):
        common = portal_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100",
                            KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap, PORTAL_OIDC_JWKS_URL=jwks_url)  # fmt: skip
        dossier = {**common, "DOSSIER_DATABASE_URL": dossier_db_url, "DOSSIER_PORT": str(dossier_port),
                   "DOSSIER_OIDC_ISSUER": gateway_url, "DOSSIER_STORAGE_DIR": str(tmp_path / "files"),
                   "DOSSIER_OUTBOX_POLL_SECONDS": "0.2"}  # fmt: skip
        gateway = {**common, "GATEWAY_PORT": str(gateway_port), "GATEWAY_PUBLIC_URL": gateway_url,
                   "GATEWAY_DOSSIER_URL": dossier_url, "GATEWAY_RATE_LIMIT_PER_MINUTE": "0"}  # fmt: skip
        logs = {name: tmp_path / f"{name}.log" for name in ("api", "worker", "gateway")}
        with (
            process(["services.dossier", "api"], dossier, logs["api"]) as api,
            process(["services.dossier", "worker"], dossier, logs["worker"]),
            process(["gateway"], gateway, logs["gateway"]) as gw,
        ):
            wait_http(f"{dossier_url}/readyz", api, logs["api"])
            wait_http(f"{gateway_url}/healthz", gw, logs["gateway"])
            citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier",
                                   iss=gateway_url, sub="citizen-traced"))  # fmt: skip
            trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
            async with httpx.AsyncClient(base_url=f"{gateway_url}/api/v1", timeout=30) as api_client:
                body = await dossier_submission(api_client, citizen, service_id)
                filed = await api_client.post(
                    "/dossier/dossiers", json=body,
                    headers={**citizen, "traceparent": f"00-{trace_id}-{caller_span}-01"},
                )  # fmt: skip
            assert filed.status_code == 201, filed.text
            spans = receiver.wait_for(_complete, trace_id, timeout=45)

    assert {s.trace_id for s in spans} == {trace_id}
    # The gateway's request, continuing the caller's trace; its answer names that span.
    gateway_server = _one(spans, service="gateway", kind="server")
    assert gateway_server.parent_id == caller_span
    assert gateway_server.attributes["http.response.status_code"] == 201
    assert filed.headers["traceparent"] == f"00-{trace_id}-{gateway_server.span_id}-01"
    # The forward: a client span of the gateway's request.
    forward = _one(spans, service="gateway", kind="client")
    assert (forward.parent_id, forward.name) == (gateway_server.span_id, "POST dossier")
    # The service's request: a child of the forward.
    served = _one(spans, service="dossier", kind="server")
    assert served.parent_id == forward.span_id
    # Named by the route's template (as the request metrics label it), not by the path's ids.
    assert (served.name, served.attributes["http.route"]) == ("POST /dossiers", "/dossiers")
    # The relay publishing each event the submission wrote: children of the service's request.
    produced = [s for s in spans if s.kind == "producer"]
    assert {s.attributes["cloudevents.event_type"] for s in produced} >= {
        SUBMITTED,
        "dossier.dossier.status_changed.v1",
    }
    assert all(s.service == "dossier-worker" and s.parent_id == served.span_id for s in produced)
    # Applying the submitted event: a child of its producer span.
    sent = _one(produced, name=f"send {SUBMITTED}")
    applied = [s for s in spans if s.kind == "consumer" and s.attributes["cloudevents.event_type"] == SUBMITTED]
    assert applied and all(s.parent_id == sent.span_id for s in applied)
    assert all(s.service == "dossier-worker" and not s.error for s in applied)
    assert {s.attributes["messaging.consumer.group.name"] for s in applied} == {"dossier.statistics"}
