"""The gateway's keep-alive HTTP/1.1 connections to its services, for forwarded requests.

Measured on the submission path, the general-purpose client (httpx over httpcore and h11) took
about half of the gateway's CPU per forwarded request: URL and header models, a pure-Python
HTTP state machine, a readability poll of every pooled socket before reuse. Here the exchange
is parsed by httptools (the C parser uvicorn serves with), a request leaves in one write, and
a connection the service closes is known at once from the transport, not polled. Only what a
proxy hop needs: HTTP/1.1 to our own services, bodies as bytes or streams, no redirects, no
cookies, no proxies. The gateway's other calls (OpenAPI documents, readiness, JWKS) still use
httpx.

Failures are typed for the gateway's answers: :class:`ConnectFailed` and
:class:`PoolExhausted` (503), :class:`AnswerTimeout` (504), :class:`BrokenAnswer` (502).

A connection the service has closed is never used for the next request: one that answered 500 is
not kept (after an unhandled error a service's server closes the connection, a moment after the
answer), an idle one is checked for a pending close before it is reused, and a request that a
reused connection lost before a single byte of answer came back is sent once more on a new
connection when sending it twice is safe (see :meth:`UpstreamPool.send`).
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

# A service's answer is read ahead up to this many bytes; then reading pauses until the client
# has taken some (a large download is relayed at the client's pace, not held in memory).
READ_AHEAD_BYTES = 256 * 1024


class UpstreamError(Exception):
    """The service could not be used for this request."""


class ConnectFailed(UpstreamError):
    """No connection could be made (refused, unreachable, or not in time)."""


class PoolExhausted(UpstreamError):
    """Every connection to the service stayed busy for the whole connect timeout."""


class AnswerTimeout(UpstreamError):
    """The service did not answer (or went silent part-way) within the read timeout."""


class BrokenAnswer(UpstreamError):
    """The service closed the connection mid-exchange or answered something that is not HTTP."""


class ClosedBeforeAnswer(BrokenAnswer):
    """The connection closed before any byte of the answer came back."""


# Methods RFC 9110 §9.2.2 makes idempotent: sending one twice has the effect of sending it once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# A service that had an unhandled error answers this, then closes the connection (uvicorn does
# when the application raises after answering, as Starlette's error middleware does).
_CLOSES_AFTER = frozenset({500})


class Answer:
    """A service's response: status and headers at once, the body as it arrives."""

    def __init__(self, connection: _Connection, read_timeout: float):
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.complete = False
        self._connection = connection
        self._read_timeout = read_timeout
        self._head: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._wake: asyncio.Future[None] | None = None
        self._error: UpstreamError | None = None
        self._released = False

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case)."""
        return next((value for key, value in self.headers if key == name), None)

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.stream()])

    async def stream(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk as it arrives; raises :class:`UpstreamError` when it breaks off."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered < READ_AHEAD_BYTES // 2:
                    self._connection.resume()
                yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self.complete:
                return
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._wake, self._read_timeout)
            except TimeoutError:
                self._connection.close()
                raise AnswerTimeout("the service went silent part-way through its answer") from None
            finally:
                self._wake = None

    def release(self) -> None:
        """Done with this answer: its connection goes back to the pool if it can carry another
        exchange, else it is closed. Safe to call more than once."""
        if self._released:
            return
        self._released = True
        reusable = self.complete and self.keep_alive and self._error is None and self.status not in _CLOSES_AFTER
        self._connection.pool.finished(self._connection, reusable=reusable)

    # --- fed by the connection ---

    async def wait_head(self) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._head), self._read_timeout)
        except TimeoutError:
            self._connection.close()
            raise AnswerTimeout("the service did not answer in time") from None

    def head_done(self, status: int, keep_alive: bool) -> None:
        self.status, self.keep_alive = status, keep_alive
        if not self._head.done():
            self._head.set_result(None)

    def body(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= READ_AHEAD_BYTES:
            self._connection.pause()
        self._notify()

    def done(self) -> None:
        self.complete = True
        self._notify()

    def fail(self, error: UpstreamError) -> None:
        if self._error is None and not self.complete:
            self._error = error
        if not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved: nobody may be waiting for a head any more
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)


class _Connection(asyncio.Protocol):
    """One connection to a service: one exchange at a time."""

    def __init__(self, pool: UpstreamPool):
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: Answer | None = None
        self.closed = False
        self.used_at = time.monotonic()
        self.head_only = False
        self.fd = -1
        # Whether any byte of the current exchange's answer has come back.
        self.answered = False
        self._writable: asyncio.Future[None] | None = None
        self._paused = False

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's is a Transport
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.answer.complete:  # a service never talks unasked
            self.close()
            return
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.answer.fail(BrokenAnswer("the service asked to switch protocols"))
            self.close()
        except httptools.HttpParserError as exc:
            self.answer.fail(BrokenAnswer(f"the service's answer is not valid HTTP: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None:
            self.answer.fail(BrokenAnswer("the service closed the connection mid-exchange"))
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self.pool.forget(self)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.answer is not None
        self.answer.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self.answer is not None
        self.answer.head_done(self.parser.get_status_code(), self.parser.should_keep_alive())
        if self.head_only:  # the answer to HEAD has no body, whatever its Content-Length says
            self.answer.done()

    def on_body(self, body: bytes) -> None:
        assert self.answer is not None
        self.answer.body(body)

    def on_message_complete(self) -> None:
        assert self.answer is not None
        self.answer.done()

    # --- used by the pool and the answer ---

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise BrokenAnswer("the connection to the service is closed")
        self.transport.write(data)
        if self._writable is not None:
            await self._writable
            self._writable = None
            if self.closed:
                raise BrokenAnswer("the service closed the connection while receiving the body")

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def pending_close(self) -> bool:
        """Whether the idle socket has something to read: the service's close (or bytes it sent
        unasked) waiting for the event loop. Either way the connection cannot carry a request."""
        if self.fd < 0:
            return False
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            return bool(poller.poll(0))
        except OSError:
            return True


class UpstreamPool:
    """Keep-alive connections to one service, at most ``max_connections`` exchanges at once.

    An exchange holds a slot from :meth:`send` until its answer is released (or the send
    fails). Idle connections are reused newest first and closed once older than
    ``keepalive_expiry`` (kept below the services' own keep-alive timeout, so the gateway never
    writes to a connection the service is closing), and never when the socket already holds the
    service's close. A request is sent a second time only when that is safe: the first went out
    on a reused connection that closed before any byte of answer came back, its body is in hand
    (not a stream already consumed), and its method is idempotent or it carries an
    ``Idempotency-Key`` (the service answers a repeat with the first answer). Otherwise a
    connection lost mid-exchange fails the request (502) rather than risk repeating a POST.
    """

    def __init__(
        self, base_url: str, *, max_connections: int, connect_timeout: float, read_timeout: float,
        keepalive_expiry: float,
    ) -> None:  # fmt: skip
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.host_header = parts.netloc.encode("latin-1")
        self.base_path = parts.path.rstrip("/").encode("latin-1")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_expiry = keepalive_expiry
        self.slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    async def send(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> Answer:  # fmt: skip
        """Send a request (``target``: path and query as the client sent them, after the base
        path) and wait for the answer's head. The caller reads the body, then must ``release()``
        the answer."""
        try:
            await asyncio.wait_for(self.slots.acquire(), self.connect_timeout)
        except TimeoutError:
            raise PoolExhausted("every connection to the service stayed busy") from None
        try:
            connection = self._take_idle()
            if connection is None:
                return await self._exchange(await self._connect(), method, target, headers, body)
            try:
                return await self._exchange(connection, method, target, headers, body)
            except ClosedBeforeAnswer:
                if not replayable(method, headers, body):
                    raise
            # The service closed the reused connection before it read the request (or at least
            # before it answered a byte): once more, on a new connection.
            return await self._exchange(await self._connect(), method, target, headers, body)
        except BaseException:
            self.slots.release()
            raise

    async def _exchange(
        self, connection: _Connection, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> Answer:  # fmt: skip
        answer = Answer(connection, self.read_timeout)
        connection.answer = answer
        connection.answered = False
        connection.head_only = method == "HEAD"
        lines = [b"%s %s%s HTTP/1.1" % (method.encode("ascii"), self.base_path, target), b"host: " + self.host_header]
        lines += [name + b": " + value for name, value in headers]
        try:
            if body is None:
                await connection.write(b"\r\n".join(lines) + b"\r\n\r\n")
            elif isinstance(body, bytes):
                lines.append(b"content-length: %d" % len(body))
                await connection.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            else:
                declared = any(name == b"content-length" for name, _ in headers)
                if not declared:
                    lines.append(b"transfer-encoding: chunked")
                await connection.write(b"\r\n".join(lines) + b"\r\n\r\n")
                async for chunk in body:
                    if chunk:
                        await connection.write(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if not declared:
                    await connection.write(b"0\r\n\r\n")
            await answer.wait_head()
        except BaseException as exc:
            # The exchange is in an unknown state (a body half sent, say): never reuse it.
            connection.answer = None
            connection.close()
            self.forget(connection)
            if isinstance(exc, BrokenAnswer) and not connection.answered:
                raise ClosedBeforeAnswer(str(exc)) from exc
            raise
        return answer

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            fresh = not connection.closed and now - connection.used_at < self.keepalive_expiry
            if fresh and not connection.pending_close():
                return connection
            connection.close()
            self._open.discard(connection)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl),
                self.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to the service: {type(exc).__name__}") from exc
        self._open.add(connection)
        return connection

    def finished(self, connection: _Connection, *, reusable: bool) -> None:
        """An answer is released: its connection waits for the next exchange or is closed, and
        its slot is free."""
        connection.answer = None
        if reusable and not connection.closed:
            connection.parser = httptools.HttpResponseParser(connection)
            connection.used_at = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
            self.forget(connection)
        self.slots.release()

    def forget(self, connection: _Connection) -> None:
        """A connection that is closed or will be: out of the pool."""
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()


def replayable(method: str, headers: list[tuple[bytes, bytes]], body: bytes | AsyncIterator[bytes] | None) -> bool:
    """Whether a request may be sent again after its connection was lost unanswered: its body is
    in hand, and sending it twice does what sending it once does."""
    if body is not None and not isinstance(body, bytes):
        return False
    return method in IDEMPOTENT_METHODS or any(name == b"idempotency-key" for name, _ in headers)
