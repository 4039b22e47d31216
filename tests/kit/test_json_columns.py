"""JSON columns' text: orjson's, and the standard encoder's where orjson refuses valid JSON."""

from __future__ import annotations

import json

from services.kit.db import json_text


def test_json_columns_take_integers_beyond_64_bits_instead_of_failing() -> None:
    value = {"keys": [{"kty": "RSA", "e": 2**70}], "đ": "Hà Nội"}
    assert json.loads(json_text(value)) == value
    assert json_text({"a": 1, "b": [True, None]}) == '{"a":1,"b":[true,null]}'  # orjson's compact form
