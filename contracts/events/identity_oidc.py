"""Events of the OpenID Connect side of identity: the client registry and signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ClientCreated(BaseModel):
    """A client was registered. Agency-bound clients (provincial and ministry systems) name
    the agency codes they may act for."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(max_length=64)
    kind: Literal["public", "confidential"]
    agencies: list[str] = Field(default_factory=list)
    created_at: datetime


class ClientDisabled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(max_length=64)
    disabled_at: datetime


class SigningKeyRotated(BaseModel):
    """A signing key was published; it signs from ``activates_at`` on."""

    model_config = ConfigDict(extra="forbid")

    kid: str
    activates_at: datetime
