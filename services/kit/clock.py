"""The time a service acts at: the machine's clock in UTC, or, in development and tests only, that
clock moved by an offset read from a file (``dev_clock_offset_file``: seconds, a number) so a test
can let deadlines pass without waiting for them. Production refuses ``dev_*`` settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path


class Clock:
    def __init__(self, offset_file: Path | None = None) -> None:
        self.offset_file = offset_file

    def offset(self) -> timedelta:
        if self.offset_file is None:
            return timedelta()
        try:
            text = self.offset_file.read_text().strip()
        except FileNotFoundError:
            return timedelta()
        return timedelta(seconds=float(text)) if text else timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()
