"""The load generator, run as its own process: ``concurrency`` clients in a closed loop over a
list of requests, for a bounded time and number of requests; or, with ``--rate``, an open loop
sending that many requests a second whatever the answers' speed. Writes the latencies by kind
as JSON.

A plan item is ``[kind, path]`` (a GET), ``[kind, path, method, json_body]`` or
``[kind, path, method, fields, "form"]`` (a form-encoded body), optionally followed by headers
of that request alone (``[kind, path, method, body, encoding, {headers}]``, body None for
none); ``--headers`` (a JSON object) is sent with every request. Any 2xx answer is a success.

It shares the machine with what it measures, so it costs as little as it can: each request's
bytes are built once, each client keeps one HTTP/1.1 keep-alive connection, and an answer is
read by its ``Content-Length`` (or chunks) without being parsed further — the same for the
baseline and the portal.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

WARM_UP_SECONDS = 2.0
TIMEOUT_SECONDS = 10.0


def encode(item: list[Any], host: str, headers: dict[str, str] | None) -> bytes:
    """The whole HTTP/1.1 request of a plan item, as sent on the wire."""
    method = item[2] if len(item) > 2 else "GET"
    body = b""
    lines = [f"{method} {item[1]} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in {**(headers or {}), **(item[5] if len(item) > 5 else {})}.items()]
    if len(item) > 3 and item[3] is not None:
        if len(item) > 4 and item[4] == "form":
            body, kind = urlencode(item[3]).encode(), "application/x-www-form-urlencoded"
        else:
            body, kind = json.dumps(item[3], ensure_ascii=False).encode(), "application/json"
        lines += [f"Content-Type: {kind}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """One keep-alive connection: a request is written whole, its answer read to the end."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> int:
        """The answer's status; the connection is reopened when the server closes it."""
        if self.writer is None or (self.reader is not None and self.reader.at_eof()):
            # New, or closed by the server while it sat idle (its keep-alive ran out): a client
            # opens another rather than write a request no one will read.
            self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        assert reader is not None
        self.writer.write(request)
        status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")  # the empty trailer
        elif length:
            await reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def drive(
    base: str, plan: list[list[Any]], concurrency: int, seconds: float, max_requests: int,
    headers: dict[str, str] | None = None, rate: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    requests = [(item[0], encode(item, url.netloc, headers)) for item in plan]
    latencies: dict[str, list[float]] = {item[0]: [] for item in plan}
    errors: dict[str, int] = {item[0]: 0 for item in plan}
    order = itertools.cycle(requests)
    idle = [Connection(host, port) for _ in range(concurrency)]

    failures: collections.Counter[str] = collections.Counter()  # by status or exception, for the report

    async def send(request: bytes) -> bool:
        connection = idle.pop() if idle else Connection(host, port)
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                status = await connection.exchange(request)
            ok = 200 <= status < 300
            if not ok:
                failures[str(status)] += 1
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as exc:
            connection.close()  # a broken exchange leaves the connection in an unknown state
            failures[type(exc).__name__] += 1
            ok = False
        idle.append(connection)
        return ok

    warm_until = time.monotonic() + WARM_UP_SECONDS
    while time.monotonic() < warm_until:  # connections, caches and plans warm
        await asyncio.gather(*(send(next(order)[1]) for _ in range(concurrency)))
    failures.clear()
    started = time.monotonic()
    deadline = started + seconds
    sent = 0

    async def one(kind: str, request: bytes) -> None:
        begin = time.perf_counter()
        if await send(request):
            latencies[kind].append((time.perf_counter() - begin) * 1000)
        else:
            errors[kind] += 1

    async def one_client() -> None:
        nonlocal sent
        while time.monotonic() < deadline and sent < max_requests:
            sent += 1
            await one(*next(order))

    if rate is None:
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    else:  # open loop: a request every 1/rate seconds, each on its own (a new connection when all are busy)
        tasks = []
        while time.monotonic() < deadline and sent < max_requests:
            tasks.append(asyncio.create_task(one(*next(order))))
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
        await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    for connection in idle:
        connection.close()
    return {"seconds": elapsed, "latencies_ms": latencies, "errors": errors, "failures": dict(failures)}


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--headers", type=json.loads, default=None)
    parser.add_argument("--rate", type=float, default=None, help="requests a second (open loop)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plan = json.loads(args.plan.read_text())
    result = uvloop.run(drive(args.base, plan, args.concurrency, args.seconds, args.max_requests, args.headers,
                              args.rate))  # fmt: skip
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
