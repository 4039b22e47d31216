"""The CloudEvents 1.0 envelope in the Kafka protocol binding, binary content mode.

Attributes travel as ``ce_*`` headers, ``data`` is the JSON message value, the message
key is the aggregate id. Two extensions: ``correlationid`` (the request or flow that
caused the event) and the W3C ``traceparent`` (carried as its own header, as the
distributed-tracing extension of the binding says).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.json import EventData

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
MAX_EVENT_BYTES = 1_000_000


class InvalidEvent(ValueError):
    """A Kafka message that is not a CloudEvent this platform can read."""


class CloudEvent(BaseModel):
    """One event. ``type`` is ``<service>.<aggregate>.<verb>.v<N>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = SPEC_VERSION
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(pattern=TYPE_PATTERN, max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = CONTENT_TYPE
    correlationid: str | None = Field(default=None, max_length=200)
    traceparent: str | None = None
    data: EventData = Field(default_factory=dict)

    @field_validator("specversion")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if v != SPEC_VERSION:
            raise ValueError(f"unsupported specversion {v!r}")
        return v

    @field_validator("traceparent")
    @classmethod
    def _valid_traceparent(cls, v: str | None) -> str | None:
        if v is not None and not _TRACEPARENT.match(v):
            return None  # a malformed trace context is dropped, never fatal
        return v

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """The ``ce_*`` headers of the binary content mode."""
        headers = [
            ("ce_specversion", self.specversion),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_time", self.time.isoformat()),
            ("content-type", self.datacontenttype),
        ]
        if self.subject is not None:
            headers.append(("ce_subject", self.subject))
        if self.correlationid is not None:
            headers.append(("ce_correlationid", self.correlationid))
        if self.traceparent is not None:
            headers.append(("traceparent", self.traceparent))
        return [(k, v.encode()) for k, v in headers]

    def kafka_value(self) -> bytes:
        """``data`` as compact UTF-8 JSON (times, dates and UUIDs as their ISO or canonical text)."""
        return orjson.dumps(self.data, option=orjson.OPT_NON_STR_KEYS, default=str)

    @classmethod
    def from_kafka(
        cls, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...], value: bytes | None
    ) -> CloudEvent:
        """Read a binary-mode message. Raises :class:`InvalidEvent` on anything malformed."""
        # The envelope's attributes as the headers spell them, and the data: checked by the model.
        attrs: dict[str, str | EventData | None] = {}
        try:
            for key, raw in headers or ():
                text = raw.decode() if raw is not None else None
                if key.startswith("ce_"):
                    attrs[key[3:]] = text
                elif key == "content-type":
                    attrs["datacontenttype"] = text
                elif key == "traceparent":
                    attrs["traceparent"] = text
            if value is None or len(value) > MAX_EVENT_BYTES:
                raise InvalidEvent("missing or oversized event data")
            data = orjson.loads(value)
            if not isinstance(data, dict):
                raise InvalidEvent("event data must be a JSON object")
            attrs["data"] = data
            return cls.model_validate(attrs)
        except InvalidEvent:
            raise
        except (UnicodeDecodeError, orjson.JSONDecodeError, ValidationError) as exc:
            raise InvalidEvent(str(exc)) from exc
