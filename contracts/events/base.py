"""The base of every event's data: the model carries its CloudEvents ``type`` once.

A producer builds an instance (validated as it is made: a malformed event fails where it is
produced, not in a consumer) and hands it to the unit of work, which reads the type from the
class. Consumers look the model up by type in :mod:`contracts.registry`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from contracts.envelope import TYPE_PATTERN

_TYPE = re.compile(TYPE_PATTERN)


class Event(BaseModel):
    """The data of one event type. Subclasses set ``TYPE`` (``<service>.<aggregate>.<verb>.v<N>``)."""

    model_config = ConfigDict(extra="forbid")

    TYPE: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        kind = cls.__dict__.get("TYPE")
        if not isinstance(kind, str) or not _TYPE.match(kind):
            raise TypeError(f"{cls.__name__}.TYPE must be an event type like 'service.aggregate.verb.v1', not {kind!r}")
