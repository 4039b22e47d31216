"""Every event type the platform publishes, with its data model."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.events.platform import DeadLetterRecorded

EVENT_TYPES: dict[str, type[BaseModel]] = {
    "kit.deadletter.recorded.v1": DeadLetterRecorded,
}

#: Models exported besides the event types (file name -> model).
ENVELOPES: dict[str, type[BaseModel]] = {"cloudevent": CloudEvent}
