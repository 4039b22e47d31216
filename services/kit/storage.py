"""Where attachment bytes live, behind one small interface; :func:`storage_of` makes the store a
service's :class:`~services.kit.settings.StorageSettings` choose.

``LocalFileStorage`` keeps them in a folder (development): written to a temporary file,
flushed to disk, then renamed into place, so a key is either whole or absent.
``S3Storage`` keeps them in a bucket of any S3-compatible store (production), each request
signed with AWS Signature Version 4 and each upload carrying its SHA-256, which the store
checks.

The bytes are stored before the database row that names them is committed: a committed row
always has its file; a failed transaction may leave an unreferenced file (never the reverse).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote, urlsplit

import httpx

from .settings import StorageSettings

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

    async def read(self, key: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)


class StorageError(RuntimeError):
    """The store refused or failed a request (never a client's fault: the caller answers 503)."""


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str, url: str, payload_sha256: str, *, access_key: str, secret_key: str, region: str,
    now: datetime | None = None, service: str = "s3",
) -> dict[str, str]:  # fmt: skip
    """The headers that sign one request with AWS Signature Version 4 (host, the payload's
    hash, the time, and the Authorization header). The query string is not used here."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    stamp, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    parts = urlsplit(url)
    host = parts.netloc
    headers = {"host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, quote(parts.path or "/", safe="/-_.~"), "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "",
         signed, payload_sha256]
    )  # fmt: skip
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return {"x-amz-content-sha256": payload_sha256, "x-amz-date": stamp, "Authorization": authorization}


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3Storage:
    """Objects ``<bucket>/<key>`` in an S3-compatible store, addressed path-style."""

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str, region: str = "us-east-1",
                 timeout: float = 30.0):  # fmt: skip
        self.base = f"{endpoint.rstrip('/')}/{bucket}"
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self._client = httpx.AsyncClient(timeout=timeout)

    def _url(self, key: str) -> str:
        if not _KEY.match(key):
            raise ValueError("malformed storage key")
        return f"{self.base}/{key[:2]}/{key}"

    def _signed(self, method: str, url: str, payload_sha256: str) -> dict[str, str]:
        return sigv4_headers(method, url, payload_sha256, access_key=self.access_key, secret_key=self.secret_key,
                             region=self.region)  # fmt: skip

    async def put(self, key: str, source: BinaryIO) -> None:
        def measure() -> tuple[str, int]:
            source.seek(0)
            digest, size = hashlib.sha256(), 0
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            source.seek(0)
            return digest.hexdigest(), size

        digest, size = await asyncio.to_thread(measure)

        async def body() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                yield chunk

        url = self._url(key)
        headers = {**self._signed("PUT", url, digest), "Content-Length": str(size)}
        try:
            answer = await self._client.put(url, content=body(), headers=headers)
        except httpx.HTTPError as exc:
            raise StorageError(f"object store unreachable: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise StorageError(f"object store refused the upload: HTTP {answer.status_code}")

    async def read(self, key: str) -> AsyncIterator[bytes]:
        url = self._url(key)
        async with self._client.stream("GET", url, headers=self._signed("GET", url, EMPTY_SHA256)) as answer:
            if answer.status_code != 200:
                raise StorageError(f"object store answered HTTP {answer.status_code} for a stored file")
            async for chunk in answer.aiter_bytes(CHUNK):
                yield chunk

    async def exists(self, key: str) -> bool:
        url = self._url(key)
        answer = await self._client.head(url, headers=self._signed("HEAD", url, EMPTY_SHA256))
        if answer.status_code in (200, 404):
            return answer.status_code == 200
        raise StorageError(f"object store answered HTTP {answer.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


def storage_of(settings: StorageSettings) -> FileStorage:
    """The store ``settings`` choose: a bucket (``storage`` = ``s3``) or a folder."""
    if settings.storage == "s3":
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key is not None else ""
        return S3Storage(settings.s3_endpoint, settings.s3_bucket, settings.s3_access_key, secret, settings.s3_region)
    return LocalFileStorage(settings.storage_dir)
