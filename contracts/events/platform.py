"""Events that belong to the platform rather than to one service."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.events.base import Event


class DeadLetterRecorded(Event):
    """A message a consumer could not process after its retries; published to ``<service>.dlq``.

    The original message travels whole (value as text, or base64 when it is not UTF-8), so it
    can be inspected and re-driven.
    """

    TYPE = "kit.deadletter.recorded.v1"

    consumer: str = Field(description="consumer group that gave up")
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    value: str | None = None
    value_encoding: str = Field(default="utf-8", pattern="^(utf-8|base64)$")
    original_event_id: str | None = None
    original_type: str | None = None
    error: str = Field(max_length=4000)
    attempts: int = Field(ge=1)
    failed_at: datetime
