"""Event models of the tests' own made-up things, for kit tests that publish and consume."""

from __future__ import annotations

from pydantic import Field

from contracts.events.base import Event


class ThingHappened(Event):
    TYPE = "test.thing.happened.v1"

    key: str
    seq: int
    name: str | None = None


class ThingCreated(Event):
    TYPE = "test.thing.created.v1"

    name: str = Field(min_length=1, max_length=50)
    copies: int = Field(ge=1, le=10)


class Numbered(Event):
    TYPE = "test.thing.numbered.v1"

    n: int


def numbered(kind: str) -> type[Numbered]:
    """A numbered event of type ``kind`` (tests that need a type of their own)."""

    class Made(Numbered):
        TYPE = kind

    return Made
