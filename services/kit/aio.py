"""Small asyncio helpers the long-running loops share."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stopping`` is set; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()
