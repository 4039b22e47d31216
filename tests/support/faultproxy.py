"""A TCP fault proxy in the manner of Toxiproxy, small and on loopback only.

A :class:`FaultProxy` listens on a loopback port and relays every connection to one upstream
address; *toxics* added at run time, and removed again, spoil the relay:

- ``latency``: each chunk is held ``latency_ms`` (± ``jitter_ms``) before it is passed on; reading
  goes on meanwhile, so the delay is added to the stream, not multiplied by its chunks.
- ``timeout``: nothing is passed on. As Toxiproxy's ``timeout``, the bytes are dropped, and with
  ``timeout_ms`` > 0 the connection is closed that long after the toxic reached it; with 0 it
  stays open, and once the toxic is removed bytes flow again but what was dropped is gone: the
  two ends wait for each other for ever, as across a firewall that forgot the connection.
  With ``hold`` = 1 the bytes are held instead (TCP's buffers fill, the sender stalls) and flow,
  late, once the toxic is removed: a partition that heals.
- ``reset``: the connections are reset (TCP RST: ``SO_LINGER`` on with a zero timeout, then close)
  ``timeout_ms`` after the toxic reaches them; while it stays, new connections are accepted and
  reset the same way (Toxiproxy's ``reset_peer``).
- ``bandwidth``: at most ``rate_kb`` KiB a second pass in that direction.

A toxic acts on one direction (``stream``: ``upstream``, client to server; ``downstream``,
server to client) or on both (``both``, the default here; Toxiproxy's is downstream).

Run as a process, ``python -m tests.support.faultproxy --port N`` serves a small control API
(JSON over HTTP on loopback, shaped after Toxiproxy's): ``POST /proxies`` ``{name, upstream,
listen}`` (``listen`` ``127.0.0.1:0`` picks a free port and the answer names it),
``GET /proxies``, ``POST /proxies/{name}/toxics`` ``{name, type, stream, attributes}``,
``DELETE /proxies/{name}/toxics/{toxic}``, ``DELETE /proxies/{name}/toxics`` and ``POST /reset``
(every toxic of every proxy removed). :class:`FaultProxyClient` speaks it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import BaseModel

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024
Stream = Literal["upstream", "downstream", "both"]
KINDS = ("latency", "timeout", "reset", "bandwidth")


@dataclass
class Toxic:
    name: str
    type: str
    stream: Stream = "both"
    attributes: dict[str, float] = field(default_factory=dict)

    def applies(self, direction: str) -> bool:
        return self.stream in ("both", direction)

    def attr(self, key: str, default: float = 0.0) -> float:
        return float(self.attributes.get(key, default))

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream, "attributes": dict(self.attributes)}


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or LOOPBACK, int(port)


def _loopback(host: str) -> None:
    if host not in (LOOPBACK, "localhost"):
        raise ValueError("the fault proxy stays on loopback")


def reset_socket(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN: linger on, zero seconds."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # closed now, buffered bytes dropped: with linger 0, an RST


class Link:
    """One relayed connection: a pump per direction."""

    def __init__(self, proxy: FaultProxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 server: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:  # fmt: skip
        self.proxy = proxy
        self.client, self.server = client, server
        self.tasks: list[asyncio.Task] = []
        self.closed = asyncio.Event()
        self.reset_task: asyncio.Task | None = None
        self.timeout_tasks: dict[str, asyncio.Task] = {}

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._pump(self.client[0], self.server[1], "upstream")),
            asyncio.create_task(self._pump(self.server[0], self.client[1], "downstream")),
        ]
        self.toxics_changed()

    def toxics_changed(self) -> None:
        """Arm the toxics that act on the connection as a whole (reset, a timeout's close)."""
        reset = self.proxy.toxic_of("reset")
        if reset is not None and self.reset_task is None:
            self.reset_task = asyncio.create_task(self._reset_after(reset.attr("timeout_ms") / 1000))
        for name in [n for n in self.timeout_tasks if n not in self.proxy.toxics]:
            self.timeout_tasks.pop(name).cancel()
        for toxic in self.proxy.toxics.values():
            if toxic.type == "timeout" and toxic.attr("timeout_ms") > 0 and toxic.name not in self.timeout_tasks:
                self.timeout_tasks[toxic.name] = asyncio.create_task(self._close_after(toxic))

    async def _reset_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.proxy.toxic_of("reset") is not None:
            self.close(reset=True)
        self.reset_task = None

    async def _close_after(self, toxic: Toxic) -> None:
        await asyncio.sleep(toxic.attr("timeout_ms") / 1000)
        if self.proxy.toxics.get(toxic.name) is toxic:
            self.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=64)

        async def read() -> None:
            try:
                while data := await reader.read(CHUNK):
                    await queue.put((time.monotonic(), data))
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                await queue.put(None)

        reading = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                read_at, data = item
                await self._deliver(writer, direction, read_at, data)
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()  # a half-close is passed on as such
        except (OSError, ConnectionError):
            self.close()
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            if all(t.done() or t is asyncio.current_task() for t in self.tasks):
                self.close()

    async def _deliver(self, writer: asyncio.StreamWriter, direction: str, read_at: float, data: bytes) -> None:
        stall = self.proxy.toxic_of("timeout", direction)
        if stall is not None and not stall.attr("hold"):
            return  # dropped
        while self.proxy.toxic_of("timeout", direction) is not None:
            await self.proxy.changed_wait()  # held until the toxic goes (or the connection is closed)
        latency = self.proxy.toxic_of("latency", direction)
        if latency is not None:
            delay = latency.attr("latency_ms") / 1000
            jitter = latency.attr("jitter_ms") / 1000
            if jitter:
                delay = max(0.0, delay + random.uniform(-jitter, jitter))
            wait = read_at + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        limit = self.proxy.toxic_of("bandwidth", direction)
        if limit is None or limit.attr("rate_kb") <= 0:
            writer.write(data)
            await writer.drain()
            return
        rate = limit.attr("rate_kb") * 1024
        step = max(1, int(rate / 20))  # twenty slices a second: smooth enough, cheap enough
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(len(piece) / rate)

    def close(self, *, reset: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for _, writer in (self.client, self.server):
            if reset:
                reset_socket(writer)
            else:
                writer.close()
        for task in [*self.tasks, *self.timeout_tasks.values()]:
            if task is not asyncio.current_task():
                task.cancel()
        self.proxy.links.discard(self)


class FaultProxy:
    """Relays ``listen`` (loopback) to ``upstream``; toxics change what gets through."""

    def __init__(self, name: str, upstream: str, listen: str = f"{LOOPBACK}:0") -> None:
        self.name = name
        self.upstream = _split(upstream)
        self.listen = _split(listen)
        _loopback(self.listen[0])
        _loopback(self.upstream[0])
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.accepted = 0
        self._server: asyncio.base_events.Server | None = None
        self._changed = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1], reuse_address=True)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for link in list(self.links):
            link.close()

    def toxic_of(self, kind: str, direction: str | None = None) -> Toxic | None:
        for toxic in self.toxics.values():
            if toxic.type == kind and (direction is None or toxic.applies(direction)):
                return toxic
        return None

    async def changed_wait(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        for link in list(self.links):
            link.toxics_changed()

    def add_toxic(self, toxic: Toxic) -> Toxic:
        if toxic.type not in KINDS:
            raise ValueError(f"unknown toxic type {toxic.type!r}; one of {', '.join(KINDS)}")
        if toxic.stream not in ("upstream", "downstream", "both"):
            raise ValueError("stream is upstream, downstream or both")
        self.toxics[toxic.name] = toxic
        self._notify()
        return toxic

    def remove_toxic(self, name: str) -> bool:
        found = self.toxics.pop(name, None) is not None
        self._notify()
        return found

    def clear(self) -> None:
        self.toxics.clear()
        self._notify()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5)
        except (OSError, TimeoutError):
            reset_socket(writer)  # as the upstream did to us: refused
            return
        link = Link(self, (reader, writer), (up_reader, up_writer))
        self.links.add(link)
        link.start()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.address, "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
                "toxics": [t.as_json() for t in self.toxics.values()], "connections": len(self.links),
                "accepted": self.accepted}  # fmt: skip


# --- the control API (a process of its own) --------------------------------------------------


class ProxyIn(BaseModel):
    name: str
    upstream: str
    listen: str = f"{LOOPBACK}:0"


class ToxicIn(BaseModel):
    name: str | None = None
    type: str
    stream: Stream = "both"
    attributes: dict[str, float] = {}


def control_app() -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="fault proxy")
    proxies: dict[str, FaultProxy] = {}

    def proxy_of(name: str) -> FaultProxy:
        if name not in proxies:
            raise HTTPException(404, f"no proxy {name}")
        return proxies[name]

    @app.get("/proxies")
    async def listing() -> dict[str, Any]:
        return {name: p.as_json() for name, p in proxies.items()}

    @app.post("/proxies", status_code=201)
    async def create(body: ProxyIn) -> dict[str, Any]:
        if body.name in proxies:
            raise HTTPException(409, f"proxy {body.name} exists")
        try:
            proxy = await FaultProxy(body.name, body.upstream, body.listen).start()
        except (ValueError, OSError) as exc:
            raise HTTPException(400, str(exc)) from exc
        proxies[body.name] = proxy
        return proxy.as_json()

    @app.post("/proxies/{name}/toxics", status_code=201)
    async def add(name: str, body: ToxicIn) -> dict[str, Any]:
        proxy = proxy_of(name)
        toxic = Toxic(body.name or f"{body.type}_{body.stream}", body.type, body.stream, dict(body.attributes))
        try:
            return proxy.add_toxic(toxic).as_json()
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @app.delete("/proxies/{name}/toxics/{toxic}", status_code=204)
    async def remove(name: str, toxic: str) -> None:
        if not proxy_of(name).remove_toxic(toxic):
            raise HTTPException(404, f"no toxic {toxic}")

    @app.delete("/proxies/{name}/toxics", status_code=204)
    async def remove_all(name: str) -> None:
        proxy_of(name).clear()

    @app.post("/reset", status_code=204)
    async def reset() -> None:
        for proxy in proxies.values():
            proxy.clear()

    return app


class FaultProxyClient:
    """The control API of a fault proxy process, from another process."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=10, trust_env=False)

    def create(self, name: str, upstream: str) -> str:
        """A new proxy in front of ``upstream``; its ``host:port``."""
        answer = self._http.post("/proxies", json={"name": name, "upstream": upstream})
        answer.raise_for_status()
        return str(answer.json()["listen"])

    def add(self, proxy: str, kind: str, *, stream: Stream = "both", name: str | None = None,
            **attributes: float) -> None:  # fmt: skip
        body = {"name": name or kind, "type": kind, "stream": stream, "attributes": attributes}
        self._http.post(f"/proxies/{proxy}/toxics", json=body).raise_for_status()

    def remove(self, proxy: str, name: str) -> None:
        self._http.delete(f"/proxies/{proxy}/toxics/{name}").raise_for_status()

    def clear(self, proxy: str | None = None) -> None:
        answer = self._http.delete(f"/proxies/{proxy}/toxics") if proxy else self._http.post("/reset")
        answer.raise_for_status()

    def proxies(self) -> dict[str, Any]:
        answer = self._http.get("/proxies")
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tests.support.faultproxy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--port", type=int, required=True, help="the control API's loopback port")
    args = parser.parse_args(argv)
    uvicorn.run(control_app(), host=LOOPBACK, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
