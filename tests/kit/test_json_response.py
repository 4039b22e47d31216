"""Every service answers JSON through orjson, byte for byte what Starlette's encoder wrote."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel
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


class Stamped(BaseModel):
    at: datetime
    on: date


@pytest.mark.parametrize(
    "value",
    [datetime(2025, 12, 3, 8, 0, tzinfo=UTC), datetime(2025, 12, 3, 8, 0, 0, 123456, tzinfo=UTC),
     datetime(2025, 12, 3, 15, 0, tzinfo=timezone(timedelta(hours=7)))],
)  # fmt: skip
def test_datetimes_written_straight_are_what_the_models_write(value: datetime) -> None:
    # A list's fast path writes its items' values without a model: the same text as the model's.
    straight = {"at": value, "on": value.date()}
    assert FastJSONResponse(straight).body == Stamped(at=value, on=value.date()).model_dump_json().encode()
