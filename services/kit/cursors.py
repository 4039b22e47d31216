"""Keyset cursors over (time, id), newest first or oldest first: the last row of a page, written
as an opaque token. Pure Python (use cases import it).

A cursor this service did not issue (edited, truncated, not base64) is a ``BadRequest``, never a
500 and never a silently different page.
"""

from __future__ import annotations

import base64
from datetime import datetime

from .errors import BadRequest


def time_cursor(at: datetime, row_id: str) -> str:
    raw = f"{at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def time_position(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, id) a cursor holds; None for the first page."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|")
        when = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not one this service issued.") from exc
    if when.tzinfo is None or not row_id:
        raise BadRequest("The cursor is not one this service issued.")
    return when, row_id
