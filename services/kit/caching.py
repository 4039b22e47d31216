"""Public, cacheable JSON answers: ``ETag`` is a hash of the body, ``If-None-Match`` gets a 304."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request, Response

from contracts.json import OpenApi

# For the OpenAPI ``responses`` of a route answered with :func:`cached_json`.
NOT_MODIFIED: dict[int | str, OpenApi] = {
    304: {"description": "Not modified: the copy the client holds (If-None-Match) is current"}
}


def cached_json(request: Request, body: Any, cache_control: str) -> Response:
    """The JSON answer with its validators: a 304 when the client already holds this body."""
    # UTC times end in Z, as pydantic writes them: a body written straight reads as a model's would.
    payload = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z, default=str)
    etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    held = request.headers.get("if-none-match", "")
    if held.strip() == "*" or etag in (tag.strip().removeprefix("W/") for tag in held.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)
