"""Events about enterprise mandates, published by the identity service on ``identity.events``
(key: the enterprise's account id, so one enterprise's grants and revocations stay in order).
Ids and roles only: no personal identifier travels with them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.events.base import Event

MandateRoleName = Literal["read", "submit", "pay", "manage"]


class MandateGranted(Event):
    """A citizen may act for an enterprise with these roles, from ``granted_at``."""

    TYPE = "identity.mandate.granted.v1"

    mandate_id: str = Field(min_length=1, max_length=64)
    enterprise_id: str = Field(min_length=1, max_length=64)
    representative_id: str = Field(min_length=1, max_length=64)
    roles: list[MandateRoleName] = Field(min_length=1, max_length=4)
    granted_by: str = Field(min_length=1, max_length=64)
    granted_at: datetime


class MandateRevoked(Event):
    """The mandate no longer works: tokens issued under it are revoked at identity, and a service
    refuses a token naming it once this event has arrived."""

    TYPE = "identity.mandate.revoked.v1"

    mandate_id: str = Field(min_length=1, max_length=64)
    enterprise_id: str = Field(min_length=1, max_length=64)
    representative_id: str = Field(min_length=1, max_length=64)
    revoked_by: str = Field(min_length=1, max_length=64)
    revoked_at: datetime
