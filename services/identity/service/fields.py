"""Checks of the fields a person types, collected so that one answer names every failed rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from services.kit.errors import ValidationFailed

from ..domain.identifiers import InvalidIdentifier

T = TypeVar("T")


class Checks:
    """``value = checks.field("phone", lambda: ...)`` for each field, then ``checks.done()``
    raises one :class:`ValidationFailed` naming every field that failed."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def field(self, name: str, parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except InvalidIdentifier as exc:
            self.errors.append({"field": name, "message": str(exc)})
            return fallback

    def done(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def one(name: str, parse: Callable[[], T]) -> T:
    """A single field's check."""
    try:
        return parse()
    except InvalidIdentifier as exc:
        raise ValidationFailed([{"field": name, "message": str(exc)}]) from None


def name(max_length: int, value: str) -> str:
    value = " ".join(value.split())
    if not value or len(value) > max_length:
        raise InvalidIdentifier(f"A name has 1 to {max_length} characters.")
    return value


def birth_date(value: date, now: datetime) -> date:
    if value > now.date() or value.year < 1900:
        raise InvalidIdentifier("The date of birth must be a past date after 1900.")
    return value
