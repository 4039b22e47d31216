"""Every service answers JSON through orjson, byte for byte what Starlette's encoder wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.responses import JSONResponse

from services.kit.app import ServiceSpec, build_app
from services.kit.http import FastJSONResponse
from services.kit.settings import ServiceSettings

BODIES = [
    {"code": "H20.41-251203-0001", "name": "Cấp lại giấy phép lái xe", "fees": [{"amount": 135000, "paid": None}],
     "ok": True, "ratio": 0.25, "nested": {"list": [1, -2, 3.5, "đ"], "empty": {}}},
    [],
    {"emoji": "🏛", "quote": 'a "b" \\ c', "control": "line\nnext\t\u0001"},
]  # fmt: skip


@pytest.mark.parametrize("body", BODIES)
def test_the_same_bytes_as_starlettes_encoder(body: object) -> None:
    assert FastJSONResponse(body).body == JSONResponse(body).body


def test_it_is_every_services_default() -> None:
    spec = ServiceSpec(name="things", title="Things", settings_cls=ServiceSettings, migrations=Path("."), routers=[])
    app = build_app(spec, ServiceSettings(log_json=False))
    assert app.router.default_response_class is FastJSONResponse
