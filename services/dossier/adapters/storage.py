"""Where attachment bytes live, behind one small interface.

``LocalFileStorage`` keeps them in a folder (development and tests): written to a temporary
file, flushed to disk, then renamed into place, so a key is either whole or absent. A
production deployment plugs an S3-compatible store in behind the same interface.

The bytes are stored before the database row that names them is committed: a committed row
always has its file; a failed transaction may leave an unreferenced file (never the reverse).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 256 * 1024
_KEY = re.compile(r"^[0-9a-f]{32}$")


class FileStorage(Protocol):
    async def put(self, key: str, source: BinaryIO) -> None:
        """Store the whole of ``source`` (read from its start) under ``key``."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The bytes stored under ``key``, in chunks."""

    async def exists(self, key: str) -> bool: ...


class LocalFileStorage:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):  # keys are ours (uuid hex); never a path from a request
            raise ValueError("malformed storage key")
        return self.root / key[:2] / key

    def _write(self, key: str, source: BinaryIO) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".part")
        source.seek(0)
        with open(temporary, "wb") as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)

    async def put(self, key: str, source: BinaryIO) -> None:
        await asyncio.to_thread(self._write, key, source)

    async def read(self, key: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        handle = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)
