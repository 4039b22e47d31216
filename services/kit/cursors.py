"""Keyset cursors over (time, id), newest first or oldest first: the last row of a page, written
as an opaque token. Pure Python (use cases import it). Ids are UUIDs.

A cursor this service did not issue (edited, truncated, not base64) is a ``BadRequest``, never a
500 and never a silently different page.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from .errors import BadRequest

Row = TypeVar("Row")


def time_cursor(at: datetime, row_id: str) -> str:
    raw = f"{at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def time_position(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, id) a cursor holds, the id a UUID in its canonical form; None for the first page."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|")
        when, canonical = datetime.fromisoformat(at), str(uuid.UUID(row_id))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not one this service issued.") from exc
    if when.tzinfo is None:
        raise BadRequest("The cursor is not one this service issued.")
    return when, canonical


def time_page(
    items: Sequence[Row], limit: int, position: Callable[[Row], tuple[datetime, str]]
) -> tuple[list[Row], str | None]:
    """A page of ``limit`` from ``items`` read one more than that (the one more says a next page
    exists), and the next page's cursor: the position of the page's last item, or None."""
    page = list(items[:limit])
    return page, (time_cursor(*position(page[-1])) if len(items) > limit else None)
