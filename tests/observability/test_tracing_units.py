"""The kit's tracing rules, each alone: without an exporter nothing of OpenTelemetry is made and
the ids still travel; with one, the traceparent a hop hands on is its own span's, parented as the
work came in. (The whole path through real processes and a real OTLP receiver is
``test_trace_across_processes``; these swap the kit's tracer for one that keeps spans in memory,
for the duration of a test only.)"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from contracts.envelope import CloudEvent
from services.kit import tracing

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def exported(monkeypatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def event(**changes) -> CloudEvent:  # type: ignore[no-untyped-def]
    values = {"source": "dossier", "type": "dossier.dossier.submitted.v1", "subject": "d-1", "traceparent": CALLER,
              "data": {"n": 1}}  # fmt: skip
    return CloudEvent(**{**values, **changes})


def hex_ids(span) -> tuple[str, str, str | None]:  # type: ignore[no-untyped-def]
    parent = f"{span.parent.span_id:016x}" if span.parent else None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", parent


def test_without_an_exporter_nothing_is_made_and_ids_still_travel(monkeypatch) -> None:
    monkeypatch.setattr(tracing, "_tracer", None)
    traceparent, span = tracing.server_span("GET", CALLER)
    assert span is None and tracing.trace_id(traceparent) == TRACE and traceparent != CALLER
    assert tracing.server_span("GET", "garbage")[0].startswith("00-")
    original = event()
    sent, watch = tracing.producer_span(original, "dossier.events")
    assert sent is original and watch(42) == 42
    assert tracing.client_span("POST", "dossier") is None
    with tracing.consuming("dossier.statistics", SimpleNamespace(topic="t", partition=0, offset=1), original):
        inside = tracing.current_traceparent()
    assert tracing.trace_id(inside) == TRACE and inside != CALLER
    assert tracing.current_traceparent() is None


def test_configure_exports_only_when_an_endpoint_is_given(monkeypatch) -> None:
    monkeypatch.setattr(tracing, "_tracer", None)
    monkeypatch.setattr(tracing, "_provider", None)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.configure("dossier", "") is False and not tracing.enabled()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.configure("dossier", "http://127.0.0.1:4318") is False
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    assert tracing.configure("dossier", "http://127.0.0.1:4318") is True and tracing.enabled()
    provider = tracing._provider
    assert provider.resource.attributes["service.name"] == "dossier"
    assert tracing.configure("gateway", "http://127.0.0.1:4318") is True  # once per process: the first name stays
    assert tracing._provider is provider
    provider.shutdown()


def test_a_server_span_continues_the_callers_trace_and_names_the_route(exported) -> None:
    traceparent, span = tracing.server_span("POST", CALLER)
    tracing.end_server_span(span, "POST", "/dossiers", 503, "req-1")
    [done] = exported.get_finished_spans()
    trace, span_id, parent = hex_ids(done)
    assert traceparent == f"00-{trace}-{span_id}-01" and (trace, parent) == (TRACE, "b7ad6b7169203331")
    assert (done.name, done.kind, done.status.status_code) == ("POST /dossiers", SpanKind.SERVER, StatusCode.ERROR)
    assert done.attributes["http.route"] == "/dossiers" and done.attributes["portal.request_id"] == "req-1"
    _, fresh = tracing.server_span("GET", "00-" + "0" * 32 + "-b7ad6b7169203331-01")  # an invalid trace id
    tracing.end_server_span(fresh, "GET", "/x", 200, "req-2")
    assert exported.get_finished_spans()[-1].parent is None


def test_a_client_span_is_a_child_of_the_current_request(exported) -> None:
    token = tracing.traceparent_var.set(CALLER)
    try:
        span = tracing.client_span("POST", "dossier")
    finally:
        tracing.traceparent_var.reset(token)
    tracing.end_client_span(span, error=ConnectionError("refused"))
    [done] = exported.get_finished_spans()
    assert hex_ids(done)[::2] == (TRACE, "b7ad6b7169203331")
    assert (done.kind, done.status.status_code, done.attributes["error.type"]) == (
        SpanKind.CLIENT, StatusCode.ERROR, "ConnectionError")  # fmt: skip


async def test_a_producer_span_is_handed_on_with_the_event_and_ends_with_the_send(exported) -> None:
    original = event()
    sent, watch = tracing.producer_span(original, "dossier.events")
    future = asyncio.get_running_loop().create_future()
    assert watch(future) is future and not exported.get_finished_spans()
    future.set_exception(TimeoutError())
    await asyncio.sleep(0)
    [done] = exported.get_finished_spans()
    trace, span_id, parent = hex_ids(done)
    assert sent.traceparent == f"00-{trace}-{span_id}-01" and (trace, parent) == (TRACE, "b7ad6b7169203331")
    assert sent.model_dump(exclude={"traceparent"}) == original.model_dump(exclude={"traceparent"})
    assert (done.kind, done.status.status_code) == (SpanKind.PRODUCER, StatusCode.ERROR)


def test_a_consumer_span_is_the_current_trace_while_the_event_is_applied(exported) -> None:
    record = SimpleNamespace(topic="dossier.events", partition=3, offset=17)
    with tracing.consuming("dossier.statistics", record, event()):
        inside = tracing.current_traceparent()
        tracing.mark_failed("dead-lettered")
    [done] = exported.get_finished_spans()
    trace, span_id, parent = hex_ids(done)
    assert inside == f"00-{trace}-{span_id}-01" and parent == "b7ad6b7169203331"
    assert (done.kind, done.status.status_code) == (SpanKind.CONSUMER, StatusCode.ERROR)
    assert done.attributes["messaging.kafka.offset"] == 17
    batch = tracing.BatchSpans("dossier.statistics", [(record, event()), (record, event(traceparent=None))])
    batch.end()
    assert [s.parent is not None for s in exported.get_finished_spans()[1:]] == [True, False]
