"""Random ids: UUID version 4 text, from the operating system's randomness drawn a page at a time.

``str(uuid.uuid4())`` asks the kernel for 16 bytes per id; on the ingest path (an id per event,
per mirrored dossier, per timeline row: thousands a second) those calls showed as a tenth of a
worker's CPU. Here the kernel's bytes (the same source as ``secrets``) are taken 4 KiB at a
time and handed out 16 by 16, never twice: a forked child starts with an empty pool.
"""

from __future__ import annotations

import os
import threading

_PAGE = 4096
_lock = threading.Lock()
_pool = bytearray()


def _forget() -> None:
    _pool.clear()


os.register_at_fork(after_in_child=_forget)


def new_id() -> str:
    """A random UUID (version 4, RFC 9562) as 36 characters of lower-case hex with hyphens."""
    with _lock:
        if len(_pool) < 16:
            _pool.extend(os.urandom(_PAGE))
        raw = _pool[-16:]
        del _pool[-16:]
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
