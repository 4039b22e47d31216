"""Base classes for request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Bound on any string in a request body unless a field says otherwise.
MAX_STRING = 10_000


class StrictModel(BaseModel):
    """A request body: unknown fields are refused, strings are bounded and stripped."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING, str_strip_whitespace=True)
