"""Base classes for request and response bodies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# Bound on any string in a request body unless a field says otherwise.
MAX_STRING = 10_000
# Characters no text column can hold: NUL (PostgreSQL refuses it in text and in jsonb) and lone
# UTF-16 surrogates (JSON may spell them, ``\ud800``; they have no UTF-8 form).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_at(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in ``value`` (a parsed JSON document) a string holds a character that cannot be
    stored, or None. Keys are checked as well as values."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return (*path, "<key>")
            if (found := unstorable_at(item, (*path, str(key)))) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := unstorable_at(item, (*path, str(index)))) is not None:
                return found
    return None


class StrictModel(BaseModel):
    """A request body: unknown fields are refused, strings are bounded and stripped, and no
    string anywhere in it (free-form JSON included) holds a character that cannot be stored."""

    model_config = ConfigDict(extra="forbid", str_max_length=MAX_STRING, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if (where := unstorable_at(value)) is not None:
            inside = f" (at {'.'.join(where)})" if where else ""
            raise ValueError(f"NUL characters and lone surrogates are not allowed{inside}")
        return value
