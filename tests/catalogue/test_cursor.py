"""Cursors are opaque, bound to their query, and refuse any edit."""

from __future__ import annotations

import pytest

from services.catalogue.domain.cursor import InvalidCursor, Position, decode_cursor, encode_cursor, fingerprint

QUERY = fingerprint({"q": "khai sinh", "sector": None})


def test_a_cursor_gives_back_its_exact_position() -> None:
    position = Position(0.1 + 0.2, "2c7fdd8b-554c-58c0-b40f-27fca4920454")
    assert decode_cursor(encode_cursor(position, QUERY), QUERY) == position


def test_an_edited_cursor_is_refused() -> None:
    token = encode_cursor(Position(1.5, "a"), QUERY)
    edited = token[:12] + ("B" if token[12] != "B" else "C") + token[13:]
    with pytest.raises(InvalidCursor, match="not one this service issued"):
        decode_cursor(edited, QUERY)


def test_a_cursor_of_another_query_is_refused() -> None:
    token = encode_cursor(Position(1.5, "a"), QUERY)
    with pytest.raises(InvalidCursor, match="another query"):
        decode_cursor(token, fingerprint({"q": "khai sinh", "sector": "HT"}))


@pytest.mark.parametrize("token", ["", "%%%", "AAAA", "x" * 40])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(token, QUERY)
