"""Files sent with feedback. Pure Python.

What a file is, and the name it is kept under, are the kit's rules (``services/kit/files.py``:
judged by its first bytes, never its name or declared type). Here: a file belongs to the account
that uploaded it, may be named by one piece of feedback (or one addition to it) of that account,
and only once (the request's schema refuses a file named twice in one list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.kit.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    owner: str
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    uploaded_at: datetime
    feedback_id: str | None = None


def check_bindable(owner: str, wanted: Sequence[str], found: dict[str, Attachment], field: str) -> None:
    """A file named that is unknown or someone else's is not found (the same 404 for both); one
    already sent with feedback is a conflict. Each names its place in ``field``."""
    for index, attachment_id in enumerate(wanted):
        attachment = found.get(attachment_id)
        if attachment is None or attachment.owner != owner:
            raise NotFound(f"{field}.{index}: No such file of yours.")
        if attachment.feedback_id is not None:
            raise Conflict(f"{field}.{index}: This file was sent with feedback already.")
