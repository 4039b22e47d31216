"""JSON columns' text: free-form JSON a client sent (a client's JWK Set) may hold an integer
orjson refuses; it is written, not answered with a 500."""

from __future__ import annotations

import pytest

from services.kit.db import json_text


def test_an_integer_beyond_64_bits_is_written_as_a_number() -> None:
    assert json_text({"keys": [{"n": 2**70}]}) == '{"keys":[{"n":1180591620717411303424}]}'
    assert json_text({1: "non-string keys still work"}) == '{"1":"non-string keys still work"}'


def test_what_is_not_json_is_still_refused() -> None:
    with pytest.raises(TypeError):
        json_text({"a": object()})
