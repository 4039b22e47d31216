"""W3C trace context through HTTP requests and events, and OpenTelemetry spans when exporting.

One source of truth: ``traceparent_var`` holds the traceparent of the current span — the request
being served (``http.RequestContextMiddleware``), the event being applied (``consumer``). Logs
name its trace, events written meanwhile carry it (outbox row and CloudEvent ``traceparent``),
and the spans the kit makes take their parent from it or from a traceparent that came with the
work (a request's header, an event's extension, an outbox row's column).

Two modes, chosen once per process by :func:`configure`:

* **No exporter** (no OTLP endpoint configured): no OpenTelemetry object is made at all. A
  request or consumed event gets a new span id in the caller's trace (``new_traceparent``), so
  the ids still travel and logs still correlate, for a string format and a random number.
* **Exporting** (``OTEL_EXPORTER_OTLP_ENDPOINT``, or the ``otlp_endpoint`` setting; or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): the SDK's tracer with a batch processor and the
  OTLP/HTTP (protobuf) exporter. Each hop is a real span and the traceparent is derived from it:
  a server span per HTTP request (gateway and services), a client span per request the gateway
  forwards, a producer span per event the outbox relay publishes (its parent: the traceparent
  stored with the row; the message carries the producer span's), a consumer span per event
  applied (its parent: the message's traceparent). Spans are exported from the SDK's own thread.

The OpenTelemetry context is not used for parenting: the kit passes parents explicitly, so the
two can never disagree.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    set_span_in_context,
)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)
# The consumer span of the event being applied, so that its outcome (a dead letter) can mark it.
_consumer_span: ContextVar[Span | None] = ContextVar("consumer_span", default=None)

_tracer: Tracer | None = None
_provider: Any = None  # opentelemetry.sdk.trace.TracerProvider once configured
_ROOT = Context()  # no parent: a new trace
TRACES_PATH = "/v1/traces"

F = TypeVar("F")


# --- the traceparent ----------------------------------------------------------------------------


def new_traceparent(parent: str | None = None) -> str:
    """A traceparent for a new span: same trace as ``parent`` when that is valid, else a new trace."""
    match = _TRACEPARENT.match(parent or "")
    trace_id = match.group(1) if match and match.group(1) != "0" * 32 else secrets.token_hex(16)
    flags = match.group(3) if match else "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def current_traceparent() -> str | None:
    return traceparent_var.get()


def traceparent_of(span: Span) -> str:
    """The W3C traceparent naming ``span``."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _parent(traceparent: str | None) -> Context:
    """An OpenTelemetry context whose span is the (remote) one ``traceparent`` names; the empty
    context (a new trace) when it names none."""
    match = _TRACEPARENT.match(traceparent or "")
    if match is None:
        return _ROOT
    trace, span = int(match.group(1), 16), int(match.group(2), 16)
    if not trace or not span:
        return _ROOT
    flags = TraceFlags(int(match.group(3), 16))
    return set_span_in_context(NonRecordingSpan(SpanContext(trace, span, is_remote=True, trace_flags=flags)))


# --- configuration ------------------------------------------------------------------------------


def configure(service_name: str, endpoint: str | None) -> bool:
    """Export spans over OTLP/HTTP when an endpoint is configured (``endpoint``: the collector's
    base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` gives it; or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
    the full URL, in the environment). Once per process: the first call that enables tracing names
    the process (``service.name``); later calls change nothing. Returns whether spans are exported."""
    global _tracer, _provider
    if _tracer is not None:
        return True
    traces_url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base = (endpoint or "").strip()
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or not (traces_url or base):
        return False
    # The SDK is imported only by processes that export.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(endpoint=None if traces_url else base.rstrip("/") + TRACES_PATH)
    # service.name is the process's own; OTEL_RESOURCE_ATTRIBUTES may add others (the environment).
    provider = TracerProvider(resource=Resource.create({"service.name": service_name, "service.namespace": "portal"}))
    # Queue size, batch size and delay: the OTEL_BSP_* variables, else the SDK's defaults.
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider = provider
    _tracer = provider.get_tracer("services.kit")
    return True


def enabled() -> bool:
    return _tracer is not None


def flush(timeout_seconds: float = 5.0) -> None:
    """Export what is queued (a process that stops calls this; the SDK also does at exit)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_seconds * 1000))


# --- HTTP ---------------------------------------------------------------------------------------


def server_span(method: str, parent: str | None) -> tuple[str, Span | None]:
    """The traceparent of a request being served, continuing ``parent`` (the caller's header), and
    its span when spans are exported (ended by :func:`end_server_span`)."""
    if _tracer is None:
        return new_traceparent(parent), None
    span = _tracer.start_span(method, context=_parent(parent), kind=SpanKind.SERVER,
                              attributes={"http.request.method": method})  # fmt: skip
    return traceparent_of(span), span


def end_server_span(span: Span, method: str, route: str, status: int, request_id: str) -> None:
    span.update_name(f"{method} {route}")
    span.set_attributes({"http.route": route, "http.response.status_code": status, "portal.request_id": request_id})
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def client_span(method: str, service: str) -> Span | None:
    """A span for an HTTP call this process makes to ``service``, child of the current span; None
    when not exporting. The call carries ``traceparent_of(span)``; end it with :func:`end_client_span`."""
    if _tracer is None:
        return None
    return _tracer.start_span(f"{method} {service}", context=_parent(traceparent_var.get()), kind=SpanKind.CLIENT,
                              attributes={"http.request.method": method, "portal.service": service})  # fmt: skip


def end_client_span(span: Span | None, *, status: int | None = None, error: BaseException | None = None) -> None:
    if span is None:
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    elif status is not None and status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


# --- events -------------------------------------------------------------------------------------


def _event_attributes(event: Any, topic: str) -> dict[str, str | int]:
    return {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.message.id": event.id,
            "cloudevents.event_id": event.id, "cloudevents.event_type": event.type,
            "cloudevents.event_source": event.source}  # fmt: skip


def _identity(value: F) -> F:
    return value


def producer_span(event: Any, topic: str) -> tuple[Any, Callable[[F], F]]:
    """For the outbox relay: the event to send and a function to pass the send's future through.
    Exporting, the event carries a new producer span's traceparent (its parent: the traceparent
    the row was written with) and the span ends when the broker acknowledges (or the send fails).
    Not exporting, the event as it is and nothing to do."""
    if _tracer is None:
        return event, _identity
    attributes = {**_event_attributes(event, topic), "messaging.operation.type": "send"}
    span = _tracer.start_span(f"send {event.type}", context=_parent(event.traceparent), kind=SpanKind.PRODUCER,
                              attributes=attributes)  # fmt: skip
    sent = event.model_copy(update={"traceparent": traceparent_of(span)})

    def watch(future: F) -> F:
        future.add_done_callback(lambda done: _end_on(span, done))  # type: ignore[attr-defined]  # F is a future
        return future

    return sent, watch


def _end_on(span: Span, future: Any) -> None:
    if future.cancelled():
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
    elif (error := future.exception()) is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


def _consumer_attributes(consumer: str, record: Any, event: Any) -> dict[str, str | int]:
    return {**_event_attributes(event, record.topic), "messaging.operation.type": "process",
            "messaging.consumer.group.name": consumer, "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset}  # fmt: skip


@contextmanager
def consuming(consumer: str, record: Any, event: Any) -> Iterator[None]:
    """The block applies ``event`` (from ``record``) for ``consumer``: the current traceparent is a
    new span in the event's trace — exporting, a consumer span whose parent is the message's
    traceparent, ended (as an error if the block raised or :func:`mark_failed` was called) when
    the block ends."""
    if _tracer is None:
        token = traceparent_var.set(new_traceparent(event.traceparent))
        try:
            yield
        finally:
            traceparent_var.reset(token)
        return
    span = _tracer.start_span(f"process {event.type}", context=_parent(event.traceparent), kind=SpanKind.CONSUMER,
                              attributes=_consumer_attributes(consumer, record, event))  # fmt: skip
    token, current = traceparent_var.set(traceparent_of(span)), _consumer_span.set(span)
    try:
        yield
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _consumer_span.reset(current)
        traceparent_var.reset(token)
        span.end()


def mark_failed(reason: str) -> None:
    """The event being applied failed for good (dead-lettered): its consumer span says so."""
    span = _consumer_span.get()
    if span is not None:
        span.set_status(Status(StatusCode.ERROR, reason))


class BatchSpans:
    """Consumer spans of a run of events applied together (one per event, each in its own trace),
    ended together by :meth:`end`. Not exporting: nothing."""

    def __init__(self, consumer: str, run: Sequence[tuple[Any, Any]]):
        self._spans = (
            []
            if _tracer is None
            else [
                _tracer.start_span(f"process {event.type}", context=_parent(event.traceparent),
                                   kind=SpanKind.CONSUMER, attributes=_consumer_attributes(consumer, record, event))
                for record, event in run
            ]
        )  # fmt: skip

    def end(self, error: str | None = None) -> None:
        spans, self._spans = self._spans, []
        for span in spans:
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error))
            span.end()
