"""Events of the OpenID Connect side of identity: the client registry and signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.events.base import Event


class ClientCreated(Event):
    """A client was registered. Agency-bound clients (provincial and ministry systems) name
    the agency codes they may act for."""

    TYPE = "identity.client.created.v1"

    client_id: str = Field(max_length=64)
    kind: Literal["public", "confidential"]
    agencies: list[str] = Field(default_factory=list)
    created_at: datetime


class ClientDisabled(Event):
    TYPE = "identity.client.disabled.v1"

    client_id: str = Field(max_length=64)
    disabled_at: datetime


class SigningKeyRotated(Event):
    """A signing key was published; it signs from ``activates_at`` on."""

    TYPE = "identity.signingkey.rotated.v1"

    kid: str
    activates_at: datetime
