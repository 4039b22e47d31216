"""One pagination shape for every list: ``cursor`` and ``limit`` in, ``{"items": [...], "next":
<cursor or null>}`` out, and the next page's address in a ``Link`` header (RFC 8288).

The cursor is opaque to callers: they pass back what ``next`` (or the link) gave them and never
build one. ``next`` is null on the last page, and then there is no link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .http import FastJSONResponse

#: The longest cursor the portal hands out or accepts.
MAX_CURSOR_LENGTH = 500
#: The page size when a caller does not ask for one.
DEFAULT_PAGE_SIZE = 20

Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_\-.=~]+$",
        description="Where the page starts: the `next` of the previous page (opaque; never built by the caller).",
    ),
]


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """A page of a list; follow ``next`` (or the ``Link`` header's ``rel="next"``) for more."""

    model_config = ConfigDict(extra="forbid")

    items: list[Item]
    next: str | None = Field(description="The cursor of the next page; null on the last page.")


def page_size(maximum: int, default: int = DEFAULT_PAGE_SIZE) -> object:
    """The ``limit`` query parameter: how many items a page holds, at most ``maximum``."""
    return Query(ge=1, le=maximum, description=f"Items per page (1–{maximum}, default {default}).")


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """Put the next page's address in the ``Link`` header: the same path and query with this
    cursor, as a reference relative to the request (what a caller behind the gateway sent)."""
    if next_cursor is None:
        return
    query = request.url.include_query_params(cursor=next_cursor).query
    response.headers.append("Link", f'<{request.url.path}?{query}>; rel="next"')


def page_response(request: Request, items: Sequence[Mapping[str, object]], next_cursor: str | None) -> Response:
    """A page written straight to JSON from its items' JSON shapes, with its ``Link``: a busy
    list's fast path, where building and validating a model per item again cost more than the
    query. Declare the page model as the route's ``response_model`` for the document, and map each
    item with the function its ``XPublic`` model validates (``XPublic.of`` = the model of
    ``XPublic.json_of``), so the shape written is the shape documented."""
    response = FastJSONResponse({"items": items, "next": next_cursor})
    link_next(request, response, next_cursor)
    return response
